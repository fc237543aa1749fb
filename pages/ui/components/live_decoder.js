// The live decoder: sliders and a latent pad that decode z in the browser on every movement.
//
// Python (pages/ui/components/live_decoder.py) sends the decoder's weights once per model (data.spec,
// an explorer.browser_decoder.decoder_spec, MLP or conv); they are kept in `SPECS` for the life of the
// tab and the component answers with the state value `loaded` = model id, after which Python stops sending them. Every
// `input` event of a range slider and every pointer move on the pad updates z, and one
// requestAnimationFrame later the forward pass (decoder_math.js, concatenated in front of this
// file) redraws the canvas; no server round trip is involved. z goes back to Python as the state
// value `z` = {z, token, n} when a drag ends (the `change` event / pointerup).
//
// Streamlit calls the default export again whenever `data` changes, on the same DOM: everything
// is built once per root element and later calls only update it. `data.token` changes when the
// page resets z (Reset, a new start code, a new model); otherwise the browser's z wins.
// `data.axes` (explorer.decoder_axes) names the dimensions (z₁, z₂, …: 1-based, as in the rest of the
// app), sets each slider's range from the model's test codes, marks inactive dimensions and frames
// the pad; `data.points` arrive in the order to draw them (every class spread over it).
// `data.texts` (live_decoder.py's texts()) holds what the component writes, in the reader's language: the
// headings, the caption, the aria-labels; {name} and {ms} are filled in here. A text it lacks stays English.
// Sizes come from the CSS (live_decoder.css: container queries on the column's width); when the column
// changes width (the window, the sidebar opened or closed) a ResizeObserver re-sizes the canvases and
// redraws them, z unchanged.

const SPECS = new Map();      // model id -> {decoder, points}: survives remounts within the tab
const INSTANCES = new WeakMap();  // root element -> LiveDecoder
const ROW_CELL_CSS_PX = 56;   // each digit of a conditional model's "same style" row, at most
const MARKER_RADIUS = 7;      // the pad's marker: a ring, so the test codes under it stay visible
const TEXTS = {               // English, for any text data.texts does not bring
  loading: "Loading the decoder…",
  pad_heading: "Latent plane: drag the marker",
  image_heading: "Decoded image  x̂ = mean of p(x | z)",
  slider_heading: "Latent code z: drag a slider",
  row_heading: "The same style z, given each label y",
  inactive_tag: " · inactive",
  slider_aria: "latent dimension {name}",
  slider_aria_inactive: "latent dimension {name} (inactive)",
  caption: "decoded in your browser · {ms} ms per frame",
};

// The English texts with those Python sent (non-empty strings only) in their place.
function mergeTexts(sent) {
  const texts = { ...TEXTS };
  if (sent && typeof sent === "object") {
    for (const [key, value] of Object.entries(sent)) {
      if (typeof value === "string" && value) texts[key] = value;
    }
  }
  return texts;
}

// "{name} ..." with fields.name in place of {name}; a field without a value stays as it is.
function fill(template, fields) {
  return template.replace(/\{(\w+)\}/g, (whole, key) =>
    (fields && Object.prototype.hasOwnProperty.call(fields, key) ? String(fields[key]) : whole));
}

function parsePoints(points) {
  if (!points) return null;
  const xy = base64ToFloat32(points.xy);
  return { n: points.n, xy, labels: Int32Array.from(points.labels) };
}

function el(tag, cls, parent, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

class LiveDecoder {
  constructor(root, texts) {
    this.root = root;
    this.texts = mergeTexts(texts);
    this.textsKey = JSON.stringify(this.texts);
    this.modelId = null;
    this.decoder = null;
    this.points = null;
    this.token = null;
    this.z = new Float32Array(0);
    this.dims = [];
    this.padDims = [0, 1];
    this.sliders = new Map();  // dim -> {input, value}
    this.frame = 0;
    this.reports = 0;
    this.msAvg = null;
    this.dragging = false;

    this.box = el("div", "vld", root);
    this.message = el("div", "vld-message", this.box, this.t("loading"));
    this.padPanel = el("div", "vld-panel vld-pad-panel", this.box);
    this.padHeading = el("div", "vld-heading", this.padPanel, this.t("pad_heading"));
    this.pad = el("canvas", "vld-pad", this.padPanel);
    this.pad.setAttribute("data-testid", "vld-pad");
    // For the browser tests: what the pad drew, to check each class can be seen on it.
    this.pad.vldDrawn = () => ({ points: this.points, colours: this.colours, padDims: this.padDims, axes: this.axes,
                                 dotAlpha: this.dotAlpha, marker: this.marker, markerRadius: MARKER_RADIUS });
    this.legend = el("div", "vld-legend", this.padPanel);
    this.imagePanel = el("div", "vld-panel vld-image-panel", this.box);
    this.imageHeading = el("div", "vld-heading", this.imagePanel, this.t("image_heading"));
    this.canvas = el("canvas", "vld-image", this.imagePanel);
    this.canvas.setAttribute("data-testid", "vld-image");
    this.caption = el("div", "vld-caption", this.imagePanel);
    this.sliderPanel = el("div", "vld-panel vld-slider-panel", this.box);
    this.sliderHeading = el("div", "vld-heading", this.sliderPanel, this.t("slider_heading"));
    this.sliderBox = el("div", "vld-sliders", this.sliderPanel);
    // A conditional model: the current style z drawn as every label, redrawn with the main image.
    this.rowPanel = el("div", "vld-panel vld-row-panel", this.box);
    this.rowHeading = el("div", "vld-heading", this.rowPanel, this.t("row_heading"));
    this.rowCanvas = el("canvas", "vld-row", this.rowPanel);
    this.rowCanvas.setAttribute("data-testid", "vld-row");
    this.rowLabels = el("div", "vld-row-labels", this.rowPanel);
    this.rowPixels = document.createElement("canvas");
    this.rowPanel.style.display = "none";
    this.label = null;
    this.padBackground = document.createElement("canvas");
    this.pixels = document.createElement("canvas");
    this.padPanel.style.display = "none";
    this.imagePanel.style.display = "none";
    this.sliderPanel.style.display = "none";
    this._bindPad();
    // A new width of the column: fit the canvases to it on the next frame (sizing them here, inside
    // the observer's callback, would change the box's height and make the browser warn of a loop).
    this.width = 0;
    new ResizeObserver(([entry]) => {
      if (entry.contentRect.width === this.width) return;  // only its height changed
      this.width = entry.contentRect.width;
      this.resized = true;
      this.schedule();
    }).observe(this.box);
  }

  // ---- data from Python ----------------------------------------------------------------------

  // A text in the reader's language (English where Python sent none), with its {fields} filled in.
  t(key, fields) {
    return fill(this.texts[key] !== undefined ? this.texts[key] : TEXTS[key], fields);
  }

  // New texts (the reader switched language): rewrite the headings; the sliders are rebuilt by update().
  _setTexts(sent) {
    const texts = mergeTexts(sent);
    const key = JSON.stringify(texts);
    if (key === this.textsKey) return;
    this.texts = texts;
    this.textsKey = key;
    this.message.textContent = this.t("loading");
    this.padHeading.textContent = this.t("pad_heading");
    this.imageHeading.textContent = this.t("image_heading");
    this.sliderHeading.textContent = this.t("slider_heading");
    this.rowHeading.textContent = this.t("row_heading");
  }

  update(data, setStateValue) {
    this.setStateValue = setStateValue;
    this._setTexts(data.texts);
    const id = data.model_id;
    if (data.spec && !SPECS.has(id)) {
      const decoder = decodeSpec(data.spec);
      // A few passes before the first frame: the JavaScript engine compiles the hot loops during
      // these (the first, interpreted pass is many times slower), not while the reader drags.
      for (let i = 0; i < 3; i++) forward(decoder, new Float32Array(decoder.latentDim));
      SPECS.set(id, { decoder, points: parsePoints(data.points) });
    }
    const entry = SPECS.get(id);
    if (!entry) {
      // Python thinks we have this model's weights but we do not (e.g. the JS was reloaded): ask again.
      this.message.textContent = this.t("loading");
      this.message.style.display = "";
      // A fresh value each time, so that each request is a change the page hears.
      setTimeout(() => this.setStateValue("missing", `${id} ${Date.now()} ${Math.random()}`), 0);
      return;
    }
    const newModel = id !== this.modelId;
    if (newModel) {
      this.modelId = id;
      this.decoder = entry.decoder;
      this.points = entry.points;
      this.message.style.display = "none";
      this.imagePanel.style.display = "";
    }
    if (newModel || data.token !== this.token) {
      this.token = data.token;
      this.z = Float32Array.from(data.z);
    }
    this.classNames = data.class_names || [];
    const label = Number.isInteger(data.label) ? data.label : null;
    const showRow = label !== null && this.decoder.nLabels > 0;
    if (newModel || label !== this.label || showRow !== (this.rowPanel.style.display !== "none")) {
      this.label = label;
      this.rowPanel.style.display = showRow ? "" : "none";
      if (showRow) this._sizeRow();
    }
    this.colours = data.colours || [];
    this.padDims = data.pad_dims || [0, 1];
    this.axes = data.axes;  // names (z₁, z₂, …), reach, inactive and help per dimension; the pad's extent and ticks
    const axesKey = JSON.stringify(this.axes);
    const showPad = !!data.pad && !!this.points;
    this.padPanel.style.display = showPad ? "" : "none";
    this.box.classList.toggle("vld-has-pad", showPad);
    if (newModel) this._sizeImage();  // after the class above: the CSS sizes the image by it
    // Beside the pad the few sliders sit under the image; otherwise they get their own column.
    const home = showPad ? this.imagePanel : this.sliderPanel;
    if (this.sliderBox.parentNode !== home) home.appendChild(this.sliderBox);  // moving it would end a drag
    this.sliderPanel.style.display = showPad ? "none" : "";
    if (showPad && (newModel || !this.padReady || this.padKey !== JSON.stringify([this.padDims, this.classNames, axesKey]))) {
      this._buildPad();
    }
    const dimsKey = JSON.stringify([data.dims, axesKey, this.textsKey]);
    if (newModel || dimsKey !== this.dimsKey) {
      this.dimsKey = dimsKey;
      this.dims = data.dims.slice();
      this._buildSliders();
    }
    this._syncSliders();
    this.schedule();
  }

  // ---- sliders -----------------------------------------------------------------------------

  _buildSliders() {
    this.sliderBox.replaceChildren();
    this.sliders.clear();
    this.sliderBox.classList.toggle("vld-two-columns", this.dims.length > 8);
    const ax = this.axes;
    for (const d of this.dims) {
      const row = el("label", "vld-slider-row", this.sliderBox);
      const name = el("span", "vld-slider-name", row, ax.names[d]);
      if (ax.inactive[d]) {
        row.classList.add("vld-inactive");
        el("span", "vld-slider-tag", name, this.t("inactive_tag"));
        row.title = ax.help[d];
      }
      const input = el("input", "vld-slider", row);
      Object.assign(input, { type: "range", min: -ax.reach[d], max: ax.reach[d], step: 0.01 });
      input.setAttribute("data-dim", String(d));
      input.setAttribute("aria-label", this.t(ax.inactive[d] ? "slider_aria_inactive" : "slider_aria", { name: ax.names[d] }));
      const value = el("span", "vld-slider-value", row);
      input.addEventListener("input", () => {
        this.z[d] = parseFloat(input.value);
        value.textContent = this.z[d].toFixed(2);
        this.schedule();
      });
      input.addEventListener("change", () => this.report());
      this.sliders.set(d, { input, value });
    }
  }

  _syncSliders() {
    for (const [d, s] of this.sliders) {
      s.input.value = String(this.z[d]);
      s.value.textContent = this.z[d].toFixed(2);
    }
  }

  // ---- the latent pad ------------------------------------------------------------------------

  _bindPad() {
    const move = (e) => {
      const r = this.pad.getBoundingClientRect();
      const [a, b] = this.padDims;
      const extent = this.axes.pad_extent;
      const clamp = (v, d) => Math.max(-this.axes.reach[d], Math.min(this.axes.reach[d], v));
      this.z[a] = clamp(((e.clientX - r.left) / r.width * 2 - 1) * extent, a);
      this.z[b] = clamp((1 - (e.clientY - r.top) / r.height * 2) * extent, b);
      this._syncSliders();
      this.schedule();
    };
    this.pad.addEventListener("pointerdown", (e) => {
      if (!this.decoder) return;
      this.dragging = true;
      this.pad.setPointerCapture(e.pointerId);
      move(e);
      e.preventDefault();
    });
    this.pad.addEventListener("pointermove", (e) => { if (this.dragging) move(e); });
    const end = () => {
      if (!this.dragging) return;
      this.dragging = false;
      this.report();
    };
    this.pad.addEventListener("pointerup", end);
    this.pad.addEventListener("pointercancel", end);
  }

  _buildPad() {
    const size = this.pad.clientWidth || 300;
    const dpr = window.devicePixelRatio || 1;
    for (const c of [this.pad, this.padBackground]) {
      c.width = Math.round(size * dpr);
      c.height = Math.round(size * dpr);
    }
    const ctx = this.padBackground.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const style = getComputedStyle(this.box);
    const text = style.getPropertyValue("--st-text-color").trim() || "#31333f";
    const bg = style.getPropertyValue("--st-secondary-background-color").trim() || "#f0f2f6";
    const extent = this.axes.pad_extent;
    const ticks = this.axes.pad_ticks;
    const toPx = (v) => (v / extent + 1) / 2 * size;
    ctx.fillStyle = bg;
    ctx.fillRect(0, 0, size, size);
    ctx.strokeStyle = text;
    ctx.globalAlpha = 0.12;
    ctx.lineWidth = 1;
    for (const v of ticks) {
      ctx.beginPath(); ctx.moveTo(toPx(v), 0); ctx.lineTo(toPx(v), size); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(0, toPx(v)); ctx.lineTo(size, toPx(v)); ctx.stroke();
    }
    ctx.globalAlpha = 0.45;
    ctx.beginPath(); ctx.moveTo(toPx(0), 0); ctx.lineTo(toPx(0), size); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(0, toPx(0)); ctx.lineTo(size, toPx(0)); ctx.stroke();
    // Small translucent dots in the order Python sent (every class spread over it), so where
    // clusters overlap each class still shows through instead of the last-drawn one covering it.
    const pts = this.points;
    const dot = pts.n > 4000 ? 1.8 : 2.4;
    this.dotAlpha = pts.n > 4000 ? 0.5 : 0.65;
    ctx.globalAlpha = this.dotAlpha;
    for (let i = 0; i < pts.n; i++) {
      ctx.fillStyle = this.colours[pts.labels[i] % this.colours.length] || "#888";
      ctx.fillRect(toPx(pts.xy[2 * i]) - dot / 2, size - toPx(pts.xy[2 * i + 1]) - dot / 2, dot, dot);
    }
    ctx.globalAlpha = 0.8;
    ctx.fillStyle = text;
    ctx.font = "11px " + (style.getPropertyValue("--st-font").trim() || "sans-serif");
    ctx.textAlign = "center";
    ctx.textBaseline = "bottom";
    for (const v of ticks) {
      if (v !== 0) ctx.fillText(String(v), toPx(v), size - 3);
    }
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    for (const v of ticks) {
      if (v !== 0) ctx.fillText(String(v), 4, size - toPx(v));
    }
    const [a, b] = this.padDims;
    ctx.font = "italic 600 13px " + (style.getPropertyValue("--st-font").trim() || "sans-serif");
    const label = (text_, x, y, alignRight) => {  // axis names on a backing so the dots do not hide them
      const w = ctx.measureText(text_).width;
      const left = alignRight ? x - w : x;
      ctx.globalAlpha = 0.85;
      ctx.fillStyle = bg;
      ctx.fillRect(left - 3, y - 9, w + 6, 18);
      ctx.globalAlpha = 1;
      ctx.fillStyle = text;
      ctx.textAlign = "left";
      ctx.textBaseline = "middle";
      ctx.fillText(text_, left, y);
    };
    label(this.axes.names[a] + " →", size - 6, toPx(0) - 12, true);
    label("↑ " + this.axes.names[b], toPx(0) + 6, 12, false);
    ctx.globalAlpha = 1;
    this.pad.setAttribute("data-extent", String(extent));
    this.pad.setAttribute("data-axes", this.axes.names[a] + "," + this.axes.names[b]);

    this.legend.replaceChildren();
    const present = new Set(pts.labels);
    this.classNames.forEach((name, k) => {
      if (!present.has(k)) return;
      const item = el("span", "vld-legend-item", this.legend);
      el("span", "vld-swatch", item).style.background = this.colours[k % this.colours.length];
      el("span", "", item, name);
    });
    this.padKey = JSON.stringify([this.padDims, this.classNames, JSON.stringify(this.axes)]);
    this.padReady = true;
  }

  _drawPad() {
    const ctx = this.pad.getContext("2d");
    const size = this.pad.width;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.padBackground, 0, 0);
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const css = size / dpr;
    const [a, b] = this.padDims;
    const extent = this.axes.pad_extent;
    // A code beyond the pad (a rare test image) is drawn at the edge, dashed: it is over there.
    const za = this.z[a], zb = this.z[b];
    const inside = Math.abs(za) <= extent && Math.abs(zb) <= extent;
    const edge = (v) => Math.max(-extent, Math.min(extent, v));
    const x = (edge(za) / extent + 1) / 2 * css;
    const y = css - (edge(zb) / extent + 1) / 2 * css;
    // A ring, not a disc: the dots under the marker (at the origin, a whole class) stay visible.
    ctx.setLineDash(inside ? [] : [3, 3]);
    ctx.lineWidth = 4;
    ctx.strokeStyle = "rgba(255, 255, 255, 0.85)";
    ctx.beginPath(); ctx.arc(x, y, MARKER_RADIUS, 0, 2 * Math.PI); ctx.stroke();
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#e8262a";
    ctx.beginPath(); ctx.arc(x, y, MARKER_RADIUS, 0, 2 * Math.PI); ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = "#e8262a";
    ctx.beginPath(); ctx.arc(x, y, 1.5, 0, 2 * Math.PI); ctx.fill();
    this.marker = [x, y];  // CSS pixels
  }

  // ---- the decoded image -----------------------------------------------------------------------

  _sizeImage() {
    const [, h, w] = this.decoder.outputShape;
    this.pixels.width = w;
    this.pixels.height = h;
    const dpr = window.devicePixelRatio || 1;
    // The panel is as wide as the CSS's --vld-image; the image gets whole screen pixels per image pixel within it.
    const cssSize = Math.max(1, Math.floor(this.imagePanel.clientWidth / w)) * w;
    this.canvas.style.width = cssSize + "px";
    this.canvas.style.height = Math.round(cssSize * h / w) + "px";
    this.canvas.width = Math.round(cssSize * dpr);
    this.canvas.height = Math.round(cssSize * dpr * h / w);
    this.imageData = new ImageData(w, h);
  }

  _sizeRow() {
    const [, h, w] = this.decoder.outputShape;
    const k = this.decoder.nLabels;
    this.rowPixels.width = k * w;
    this.rowPixels.height = h;
    this.rowImageData = new ImageData(k * w, h);
    const dpr = window.devicePixelRatio || 1;
    // As wide as the column allows; whole screen pixels per image pixel unless that shrinks the digits by over a quarter.
    const fit = Math.max(1, Math.floor(Math.min(ROW_CELL_CSS_PX, this.rowPanel.clientWidth / k)));
    const whole = Math.floor(fit / w) * w;
    const cell = whole >= 0.75 * fit ? whole : fit;
    this.rowCanvas.style.width = k * cell + "px";
    this.rowCanvas.style.height = Math.round(cell * h / w) + "px";
    this.rowCanvas.width = Math.round(k * cell * dpr);
    this.rowCanvas.height = Math.round(cell * dpr * h / w);
    this.rowLabels.replaceChildren();
    this.rowLabels.style.width = k * cell + "px";
    for (let y = 0; y < k; y++) {
      const name = el("span", y === this.label ? "vld-row-label vld-row-current" : "vld-row-label", this.rowLabels,
                      this.classNames[y] !== undefined ? this.classNames[y] : String(y));
      name.style.width = cell + "px";
    }
  }

  _drawRow() {
    const [c, h, w] = this.decoder.outputShape;
    const k = this.decoder.nLabels;
    const px = this.rowImageData.data;
    const n = h * w;
    for (let y = 0; y < k; y++) {
      const x = forward(this.decoder, this.z, y);
      for (let i = 0; i < n; i++) {
        const r = x[i], g = c === 3 ? x[n + i] : r, b = c === 3 ? x[2 * n + i] : r;
        const o = 4 * (Math.floor(i / w) * k * w + y * w + (i % w));
        px[o] = Math.round(r * 255); px[o + 1] = Math.round(g * 255); px[o + 2] = Math.round(b * 255); px[o + 3] = 255;
      }
    }
    this.rowPixels.getContext("2d").putImageData(this.rowImageData, 0, 0);
    const ctx = this.rowCanvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.rowPixels, 0, 0, this.rowCanvas.width, this.rowCanvas.height);
    const cell = this.rowCanvas.width / k;  // frame the digit shown above
    ctx.strokeStyle = "rgba(255, 75, 75, 0.95)";
    ctx.lineWidth = Math.max(2, cell / 20);
    ctx.strokeRect(this.label * cell + ctx.lineWidth / 2, ctx.lineWidth / 2, cell - ctx.lineWidth, this.rowCanvas.height - ctx.lineWidth);
    this.rowCanvas.setAttribute("data-frame", String(this.frame));
  }

  _drawImage() {
    const t0 = performance.now();
    const x = forward(this.decoder, this.z, this.label);
    const ms = performance.now() - t0;
    this.msAvg = this.msAvg === null ? ms : 0.9 * this.msAvg + 0.1 * ms;
    const [c, h, w] = this.decoder.outputShape;
    const px = this.imageData.data;
    const n = h * w;
    for (let i = 0; i < n; i++) {
      const r = x[i], g = c === 3 ? x[n + i] : r, b = c === 3 ? x[2 * n + i] : r;
      px[4 * i] = Math.round(r * 255);
      px[4 * i + 1] = Math.round(g * 255);
      px[4 * i + 2] = Math.round(b * 255);
      px[4 * i + 3] = 255;
    }
    this.pixels.getContext("2d").putImageData(this.imageData, 0, 0);
    const ctx = this.canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.pixels, 0, 0, this.canvas.width, this.canvas.height);
    this.caption.textContent = this.t("caption", { ms: this.msAvg.toFixed(2) });
    this.frame += 1;
    this.canvas.setAttribute("data-frame", String(this.frame));
  }

  schedule() {
    if (this.pending || !this.decoder) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = 0;
      if (this.resized) this._fit();
      this._drawImage();
      if (this.rowPanel.style.display !== "none") this._drawRow();
      if (this.padPanel.style.display !== "none" && this.padReady) this._drawPad();
    });
  }

  // The column changed width: size the image, the row and the pad to the CSS's new sizes.
  _fit() {
    this.resized = false;
    this._sizeImage();
    if (this.rowPanel.style.display !== "none") this._sizeRow();
    if (this.padPanel.style.display !== "none" && this.padReady) this._buildPad();
  }

  cancel() {
    if (this.pending) cancelAnimationFrame(this.pending);
    this.pending = 0;
  }

  report() {
    if (!this.setStateValue) return;
    this.reports += 1;
    const z = Array.from(this.z, (v) => Math.round(v * 1e4) / 1e4);
    this.setStateValue("z", { z, token: this.token, n: this.reports });
  }
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let root = parentElement.querySelector(".vld-root");
  if (!root) {
    root = document.createElement("div");
    root.className = "vld-root";
    parentElement.appendChild(root);
  }
  let inst = INSTANCES.get(root);
  if (!inst) {
    inst = new LiveDecoder(root, data && data.texts);
    INSTANCES.set(root, inst);
  }
  inst.update(data || {}, setStateValue);
  // Streamlit keeps only the latest cleanup and runs it on unmount; the DOM goes with the element.
  return () => inst.cancel();
}
