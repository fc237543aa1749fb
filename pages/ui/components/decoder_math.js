// The decoder's forward pass in plain JavaScript: the browser half of explorer/browser_decoder.py.
//
// A spec (from explorer.browser_decoder.decoder_spec) lists the decoder's layers with base64
// little-endian float32 weights: "linear" layers (weight (out, in) row-major) and
// "conv_transpose2d" layers (PyTorch's weight (C_in, C_out, kH, kW)), each optionally followed by
// a ReLU. decodeSpec turns them into Float32Arrays once; forward runs z -> sigmoid(layers(z)), the
// mean of p(x|z). Activations travel between layers as flat channel-major Float32Arrays. Sums run
// in float64 (JS numbers) and each layer is stored as float32, exactly as
// explorer.browser_decoder.decode_with_spec does in NumPy.
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

// For each output row (or column) o of a transposed convolution: the input rows i and kernel rows
// k with o = i * stride - padding + k, as a flat [i0, k0, i1, k1, ...] list.
function convTaps(nIn, nOut, kernel, stride, padding) {
  const taps = [];
  for (let o = 0; o < nOut; o++) {
    const list = [];
    for (let k = 0; k < kernel; k++) {
      const t = o + padding - k;
      if (t % stride === 0 && t >= 0 && t / stride < nIn) list.push(t / stride, k);
    }
    taps.push(Int32Array.from(list));
  }
  return taps;
}

function linearLayer(l, weight) {
  if (weight.length !== l.in * l.out) throw new Error("linear layer " + l.in + "->" + l.out + " has " + weight.length + " weights");
  return { type: "linear", nIn: l.in, nOut: l.out, weight };
}

function convTransposeLayer(l, weight) {
  const [cIn, hIn, wIn] = l.in_shape;
  const [cOut, hOut, wOut] = l.out_shape;
  const [kh, kw] = l.kernel;
  if (weight.length !== cIn * cOut * kh * kw || l.in !== cIn * hIn * wIn || l.out !== cOut * hOut * wOut) {
    throw new Error("conv_transpose2d layer " + l.in_shape + "->" + l.out_shape + " has " + weight.length + " weights");
  }
  // Repacked to (C_out, kH, kW, C_in) so the innermost loop, over input channels, reads weights in a row.
  const packed = new Float32Array(weight.length);
  for (let c = 0; c < cIn; c++)
    for (let o = 0; o < cOut; o++)
      for (let k = 0; k < kh * kw; k++) packed[(o * kh * kw + k) * cIn + c] = weight[(c * cOut + o) * kh * kw + k];
  return {
    type: "conv_transpose2d", nIn: l.in, nOut: l.out, cIn, hIn, wIn, cOut, hOut, wOut, kh, kw, weight: packed,
    rows: convTaps(hIn, hOut, kh, l.stride[0], l.padding[0]),
    cols: convTaps(wIn, wOut, kw, l.stride[1], l.padding[1]),
  };
}

function decodeSpec(spec) {
  if (spec.final !== "sigmoid") throw new Error("unknown final activation " + spec.final);
  const layers = spec.layers.map((l) => {
    const weight = base64ToFloat32(l.weight);
    const bias = base64ToFloat32(l.bias);
    const type = l.type || "linear";  // version-1 specs had linear layers only
    let layer;
    if (type === "linear") layer = linearLayer(l, weight);
    else if (type === "conv_transpose2d") layer = convTransposeLayer(l, weight);
    else throw new Error("unknown layer type " + type);
    const nBias = type === "linear" ? l.out : l.out_shape[0];
    if (bias.length !== nBias) throw new Error("layer " + l.in + "->" + l.out + " has " + bias.length + " biases");
    layer.bias = bias;
    layer.relu = l.activation === "relu";
    return layer;
  });
  for (let k = 1; k < layers.length; k++) {
    if (layers[k].nIn !== layers[k - 1].nOut) throw new Error("layer sizes do not chain: " + layers[k - 1].nOut + " -> " + layers[k].nIn);
  }
  // A conditional model's spec also carries one first-layer bias per label (K x out0).
  let labelBiases = null;
  if (spec.label_biases) {
    if (layers[0].type !== "linear") throw new Error("label biases need a linear first layer");
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

function linearForward(layer, bias, x, out) {
  const { nIn, nOut, weight, relu } = layer;
  for (let o = 0; o < nOut; o++) {
    let s = 0.0;
    const row = o * nIn;
    for (let i = 0; i < nIn; i++) s += weight[row + i] * x[i];
    s += bias[o];
    out[o] = relu && s < 0 ? 0 : s;
  }
}

// out[o, y, x] = bias[o] + sum over the taps (i, ky) of row y, (j, kx) of column x and input channels c
// of in[c, i, j] * w[c, o, ky, kx]: each output pixel gathers its own sum, so it is summed in float64.
function convTransposeForward(layer, bias, x, out) {
  const { cIn, hIn, wIn, cOut, hOut, wOut, kh, kw, weight, rows, cols, relu } = layer;
  const plane = hIn * wIn;
  for (let o = 0; o < cOut; o++) {
    for (let y = 0; y < hOut; y++) {
      const ry = rows[y];
      for (let xo = 0; xo < wOut; xo++) {
        const cx = cols[xo];
        let s = 0.0;
        for (let a = 0; a < ry.length; a += 2) {
          const rowIn = ry[a] * wIn, wRow = (o * kh + ry[a + 1]) * kw;
          for (let b = 0; b < cx.length; b += 2) {
            const at = rowIn + cx[b];
            const w0 = (wRow + cx[b + 1]) * cIn;
            for (let c = 0; c < cIn; c++) s += weight[w0 + c] * x[c * plane + at];
          }
        }
        s += bias[o];
        out[(o * hOut + y) * wOut + xo] = relu && s < 0 ? 0 : s;
      }
    }
  }
}

// Mean image (C*H*W values in [0, 1], channel-major) for one code z of length latentDim; for a
// conditional model, `label` picks the first layer's bias (default: the spec's own label).
function forward(decoder, z, label) {
  let x = z instanceof Float32Array ? z : Float32Array.from(z);
  for (let k = 0; k < decoder.layers.length; k++) {
    const layer = decoder.layers[k];
    let bias = layer.bias;
    if (k === 0 && label !== undefined && label !== null && decoder.labelBiases) {
      bias = decoder.labelBiases.subarray(label * layer.nOut, (label + 1) * layer.nOut);
    }
    const out = decoder.buffers[k];
    if (layer.type === "linear") linearForward(layer, bias, x, out);
    else convTransposeForward(layer, bias, x, out);
    x = out;
  }
  const result = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) result[i] = 1 / (1 + Math.exp(-x[i]));
  return result;
}

if (typeof module !== "undefined" && module.exports) {
  module.exports = { base64ToFloat32, decodeSpec, forward };
}
