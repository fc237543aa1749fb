// The decoder's forward pass in plain JavaScript: the browser half of vae/export.py.
//
// A spec (from vae.export.decoder_spec) lists Linear layers with base64 little-endian float32
// weights (out, in) row-major; decodeSpec turns them into Float32Arrays once, forward runs
// z -> sigmoid(layers(z)), the mean of p(x|z). Sums run in float64 (JS numbers) and each layer
// is stored as float32, exactly as vae.export.decode_with_spec does in NumPy.
//
// Pure functions, no DOM: the live-decoder component concatenates this file in front of its
// own code, and the tests load it in Node (module.exports at the bottom).

function base64ToFloat32(text) {
  let bytes;
  if (typeof atob === "function") {
    const bin = atob(text);
    bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  } else {
    bytes = new Uint8Array(Buffer.from(text, "base64"));
  }
  // DataView reads little-endian whatever the machine's byte order.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

function decodeSpec(spec) {
  if (spec.final !== "sigmoid") throw new Error("unknown final activation " + spec.final);
  const layers = spec.layers.map((l) => {
    const weight = base64ToFloat32(l.weight);
    const bias = base64ToFloat32(l.bias);
    if (weight.length !== l.in * l.out || bias.length !== l.out) {
      throw new Error("layer " + l.in + "->" + l.out + " has " + weight.length + " weights, " + bias.length + " biases");
    }
    return { nIn: l.in, nOut: l.out, weight, bias, relu: l.activation === "relu" };
  });
  // A conditional model's spec also carries one first-layer bias per label (K x out0).
  let labelBiases = null;
  if (spec.label_biases) {
    labelBiases = base64ToFloat32(spec.label_biases.data);
    if (labelBiases.length !== spec.label_biases.n * layers[0].nOut) throw new Error("label biases have the wrong size");
  }
  return {
    layers,
    labelBiases,
    nLabels: spec.label_biases ? spec.label_biases.n : 0,
    latentDim: spec.latent_dim,
    outputShape: spec.output_shape.slice(),
    buffers: layers.map((l) => new Float32Array(l.nOut)),  // reused every frame: no garbage while dragging
  };
}

// Mean image (C*H*W values in [0, 1], channel-major) for one code z of length latentDim; for a
// conditional model, `label` picks the first layer's bias (default: the spec's own label).
function forward(decoder, z, label) {
  let x = z instanceof Float32Array ? z : Float32Array.from(z);
  for (let k = 0; k < decoder.layers.length; k++) {
    const { nIn, nOut, weight, relu } = decoder.layers[k];
    let bias = decoder.layers[k].bias;
    if (k === 0 && label !== undefined && label !== null && decoder.labelBiases) {
      bias = decoder.labelBiases.subarray(label * nOut, (label + 1) * nOut);
    }
    const out = decoder.buffers[k];
    for (let o = 0; o < nOut; o++) {
      let s = 0.0;
      const row = o * nIn;
      for (let i = 0; i < nIn; i++) s += weight[row + i] * x[i];
      s += bias[o];
      out[o] = relu && s < 0 ? 0 : s;
    }
    x = out;
  }
  const result = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) result[i] = 1 / (1 + Math.exp(-x[i]));
  return result;
}

if (typeof module !== "undefined" && module.exports) {
  module.exports = { base64ToFloat32, decodeSpec, forward };
}
