// The "map" mode: the Latent map page's scatter of encoded images, drawn with regl-scatterplot (WebGL1) and
// explored in the browser. Hovering a point shows its thumbnail (cut from the PNG tiles, or its latent decoded
// when there are none); hovering empty space inside the map's convex hull decodes the latent blended from the
// enclosing Delaunay triangle (triangulation.ts); outside it there is nothing to show. Clicks and box or lasso
// selections are shown in the pick panel at once and reported to Python.
//
// Python sends the map's data (one safetensors blob: coords, labels, latents, thumbnail tiles) and the decoder
// by id, their bytes only when asked: the browser keeps both in IndexedDB (store.ts) and asks for whichever it
// lacks with {need: id}, the data first. It reports {alive: true} once the map is drawn while Python has named
// no decoder yet, {ok: true, drawn, pick, seq} once the map is drawn and the decoder loaded and after each pick,
// or {ok: false, error} when WebGL, WebAssembly or the decoder fails. Hovering never reports (no reruns).
import createScatterplot, { createRenderer } from "regl-scatterplot";
import { drawGrid } from "./canvas";
import { failIn, fitTo, mount, setValue, type RenderArgs } from "./host";
import { markInput, markPainted, message, Painter } from "./painter";
import { float32, int16, int32, readSafetensors } from "./safetensors";
import { matrixOf, paintMoved, panBy, PointGrid, sameView, viewOf, zoomAbout, type View } from "./moving";
import { load, save } from "./store";
import { Thumbnails, type TileLayout } from "./thumbs";
import { blend, Triangulation, type Enclosing } from "./triangulation";

// Plotly's default colour sequence, as the server-drawn map uses; unlabelled points (-1) grey.
const PALETTE = ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880", "#ff97ff", "#fecb52"];
const UNLABELLED = "#9a9a9a";
const PREVIEW_SCALE = 4; // hover preview: each image pixel 4 x 4 CSS pixels
const PICK_SCALE = 4;
const REGION_THUMBS = 16;
const CLICK_SLOP = 4; // a press that moves further is a drag (pan, box, lasso), not a click
const PERFORMANCE_FROM = 500_000; // points from which performanceMode (squares, no blending) is the default
const SLOW_DRAW_MS = 16; // "auto": a full draw slower than a 60 Hz frame moves a picture instead (moving.ts)
const SETTLE_MS = 150; // ... and draws the points again once no input has come for this long
const BACKGROUND = "#ffffff";

type Scatterplot = ReturnType<typeof createScatterplot>;
type Renderer = ReturnType<typeof createRenderer>;
type Pick =
  | { kind: "point"; index: number; x: number; y: number }
  | { kind: "space"; x: number; y: number; triangle: number[] | null; weights: number[] | null }
  | { kind: "region"; index: number[] };

interface MapData {
  n: number;
  coords: Float32Array; // (n, 2) data coordinates
  labels: Int16Array; // (n,) class, -1 unknown
  numbers: Int32Array | null; // (n,) each point's number where it comes from (a test image's), else null
  numbering: [number, string][]; // the map's parts: (first point, what its points are)
  latents: Float32Array | null; // (n, d)
  d: number;
  thumbs: Thumbnails | null;
}

interface Exact {
  seq: number;
  x: number;
  y: number;
  z: number[];
  label: string;
}

let root: HTMLElement | null = null;
let box: HTMLElement; // position: relative parent of the canvas (regl-scatterplot's 'auto' size)
let canvas: HTMLCanvasElement;
let legend: HTMLElement;
let panel: HTMLElement;
let preview: HTMLElement;
let previewCanvas: HTMLCanvasElement;
let previewCaption: HTMLElement;
let toolbar: HTMLElement;
let overlay: HTMLCanvasElement; // the moved picture of the last full draw, over the canvas while a view waits
let ring: HTMLElement; // the hovered point's highlight where the hover is ours
const snapshot = document.createElement("canvas");

let scatter: Scatterplot | null = null;
let renderer: Renderer | null = null;
let drawMs = 0; // the last full draw's duration (regl-scatterplot's render, its copy to the canvas included)
// Pan and zoom move a picture (the map's full draws are slow): the view and the hover are ours, not regl's.
let snapshotting = false;
let grid: PointGrid | null = null; // the points' NDC positions, to find the hovered one
let ownHovered = -1;
let snapView: View | null = null; // the view the picture in `snapshot` was drawn at, while a moved view waits
let target: View = { s: 1, tx: 0, ty: 0 }; // the view the hand asks for
let applied: View | null = null; // handed to regl-scatterplot, its draw to come
let settleTimer = 0;
let framePending = false;
let lastInput = 0; // the newest input event's timestamp
let dragFrom: { x: number; y: number } | null = null; // a pan under way (snapshot mode)
let performanceMode = false;
let args: RenderArgs = {};
let dataId = "";
let data: MapData | null = null;
let triangulation: Triangulation | null = null;
// The map data's bytes were asked for: this settles the wait for them.
let supply: { id: string; resolve: (bytes: Uint8Array) => void } | null = null;
let failed = false;
let announced = false;
let reported = ""; // the data and decoder ids last reported ok
let hidden = new Set<number>();
let seq = 0;
let pick: Pick | null = null;
let shownExact = -1;
let hoverToken = 0;
let hoverShown = ""; // what the preview shows now ("point 12"), so that a move within it only repositions it
// The press under way or last made: where, and how far the hand has gone from there (a drag, or a click).
let down: { x: number; y: number; far: number } | null = null;
let imageShape: [number, number, number] = [1, 28, 28];
// NDC = (data - centre) / radius: the map's points fill [-1, 1] keeping their aspect.
let centre: [number, number] = [0, 0];
let radius = 1;
const painter = new Painter("map", fail); // hover previews: stale requests dropped
const pickPainter = new Painter("map", fail); // the pick panel's decodes, never dropped by hovering

function fail(error: unknown): void {
  if (failed) return;
  failed = true;
  failIn("map", root, message(error));
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className = "", text = ""): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text) e.textContent = text;
  return e;
}

function layout(height: number): void {
  if (root) {
    box.style.height = `${height}px`;
    return;
  }
  root = element("div", "map");
  box = element("div", "map-box");
  box.style.height = `${height}px`;
  canvas = element("canvas");
  canvas.tabIndex = 0;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "Latent map: drag to pan, wheel to zoom, click a point or empty space");
  canvas.dataset.testid = "map-canvas";
  canvas.dataset.draws = "0";
  canvas.dataset.movedFrames = "0";
  canvas.dataset.pending = "0";
  canvas.dataset.points = "0";
  toolbar = element("div", "map-toolbar");
  toolbar.setAttribute("role", "toolbar");
  toolbar.setAttribute("aria-label", "Map tools");
  preview = element("div", "map-preview");
  preview.dataset.testid = "map-preview";
  preview.dataset.kind = "";
  preview.dataset.frames = "0";
  preview.hidden = true;
  preview.setAttribute("aria-live", "polite");
  previewCanvas = element("canvas");
  previewCaption = element("div", "caption");
  preview.append(previewCanvas, previewCaption);
  overlay = element("canvas", "map-overlay");
  overlay.hidden = true;
  overlay.setAttribute("aria-hidden", "true");
  ring = element("div", "map-ring");
  ring.hidden = true;
  box.append(canvas, overlay, ring, toolbar, preview);
  const side = element("div", "map-side");
  legend = element("div", "map-legend");
  legend.setAttribute("role", "group");
  legend.setAttribute("aria-label", "Classes: click to hide or show");
  panel = element("div", "map-pick");
  panel.dataset.testid = "map-pick";
  panel.setAttribute("aria-live", "polite");
  side.append(legend, panel);
  root.append(box, side);
  mount("map", root);
  buildToolbar();
  new ResizeObserver(() => fitTo(root)).observe(root);
}

function buildToolbar(): void {
  const modes: [string, string, Record<string, unknown>][] = [
    ["Pan", "pan", { mouseMode: "panZoom" }],
    ["Box", "box", { mouseMode: "lasso", lassoType: "rectangle" }],
    ["Lasso", "lasso", { mouseMode: "lasso", lassoType: "freeform" }],
  ];
  const buttons: HTMLButtonElement[] = [];
  for (const [label, mode, settings] of modes) {
    const button = element("button", "", label);
    button.type = "button";
    button.dataset.mode = mode;
    button.setAttribute("aria-pressed", String(mode === "pan"));
    button.addEventListener("click", () => {
      void scatter?.set(settings);
      canvas.dataset.mode = mode;
      for (const b of buttons) b.setAttribute("aria-pressed", String(b === button));
    });
    buttons.push(button);
    toolbar.append(button);
  }
  canvas.dataset.mode = "pan";
  const clear = element("button", "", "Clear selection");
  clear.type = "button";
  clear.addEventListener("click", clearPick);
  toolbar.append(clear);
}

// ---- the data -------------------------------------------------------------------------------------------------

/** The map data's bytes: sent now, or from the browser's store, or asked of Python ({need: id}). */
function dataBytes(id: string, sent: Uint8Array): Promise<Uint8Array> {
  const name = `map ${id}`;
  if (sent.byteLength) {
    void save(name, sent);
    return Promise.resolve(sent.slice());
  }
  return load(name).then(
    (stored) =>
      stored ??
      new Promise<Uint8Array>((resolve) => {
        supply = { id, resolve };
        setValue("map", { need: id });
      }),
  );
}

function parse(bytes: Uint8Array): MapData {
  const file = readSafetensors(bytes);
  const coords = float32(file, "coords");
  const labels = int16(file, "labels");
  if (!coords || !labels) throw new Error("the map data lacks coords or labels");
  const n = labels.length;
  if (coords.length !== 2 * n) throw new Error(`the map has ${n} labels but ${coords.length / 2} positions`);
  const latents = float32(file, "latents");
  const d = latents ? latents.length / n : 0;
  const layout = JSON.parse(file.metadata.layout ?? "null") as TileLayout | null;
  const tiles: Uint8Array[] = [];
  for (let t = 0; file.tensors.has(`tile_${String(t).padStart(3, "0")}`); t++)
    tiles.push(file.tensors.get(`tile_${String(t).padStart(3, "0")}`)!.bytes);
  // Tiles in the data (the app's), else at the URLs the host gives (a site's, shared by the models of a dataset).
  const urls = (args.tile_urls as string[] | undefined) ?? [];
  const urlLayout = (args.tile_layout as TileLayout | undefined) ?? null;
  const thumbs =
    layout && tiles.length ? Thumbnails.of(tiles, layout) : urlLayout && urls.length ? Thumbnails.fetched(urls, urlLayout) : null;
  const numbers = int32(file, "numbers");
  const numbering = JSON.parse(file.metadata.numbering ?? "[]") as [number, string][];
  return { n, coords, labels, numbers, numbering, latents, d, thumbs };
}

/** n seeded points in 10 Gaussian clusters (mulberry32 + Box-Muller): the frame-rate benchmark's map. */
function synthetic(n: number): MapData {
  let state = 0x9e3779b9;
  const random = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const centres = Array.from({ length: 10 }, () => [random() * 20 - 10, random() * 20 - 10, 0.5 + random() * 1.5]);
  const coords = new Float32Array(2 * n);
  const labels = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const k = Math.floor(random() * 10);
    const [cx, cy, s] = centres[k];
    const r = Math.sqrt(-2 * Math.log(1 - random())) * s;
    const a = 2 * Math.PI * random();
    coords[2 * i] = cx + r * Math.cos(a);
    coords[2 * i + 1] = cy + r * Math.sin(a);
    labels[i] = k;
  }
  return { n, coords, labels, numbers: null, numbering: [], latents: null, d: 0, thumbs: null };
}

// ---- drawing ---------------------------------------------------------------------------------------------------

let probed: string | null | undefined;

/** Why WebGL cannot draw here, or null; probed once (each probe would hold a context). */
function webglError(): string | null {
  if (probed === undefined) probed = probeWebgl();
  return probed;
}

function probeWebgl(): string | null {
  try {
    const probe = document.createElement("canvas");
    return probe.getContext("webgl") ? null : "WebGL is not available in this browser";
  } catch (error) {
    return `WebGL is not available in this browser (${message(error)})`;
  }
}

/** Point i as the page names it: "test image 1,046", "training image 12", "sample 7" (or "point 7"). */
function pointName(map: MapData, i: number): string {
  let part: [number, string] = [0, "point"];
  for (const entry of map.numbering) if (entry[0] <= i) part = entry;
  const number = map.numbers ? map.numbers[i] : i - part[0];
  return `${part[1]} ${number.toLocaleString("en")}`;
}

function classOf(label: number): number {
  return label < 0 ? PALETTE.length : label % PALETTE.length; // categorical colour index
}

function create(perf: boolean): Scatterplot {
  scatter?.destroy();
  if (renderer && !renderer.isDestroyed) renderer.destroy();
  performanceMode = perf;
  // regl-scatterplot's default renderer, made here so that each full draw is timed.
  const r = createRenderer();
  const render = r.render;
  r.render = (draw, target) => {
    const start = performance.now();
    render(draw, target);
    drawMs = performance.now() - start;
  };
  renderer = r;
  const sp = createScatterplot({
    renderer: r,
    canvas,
    width: "auto",
    height: "auto",
    syncEvents: true, // hover and selection are known within the event that caused them
    performanceMode: perf,
    pointColor: [...PALETTE, UNLABELLED],
    colorBy: "valueA",
    pointColorHover: "#31333f",
    pointColorActive: "#ff4b4b",
    opacityInactiveScale: 0.5,
    lassoColor: "#31333f",
    lassoMinDelay: 8,
    backgroundColor: [1, 1, 1, 1],
  } as Parameters<typeof createScatterplot>[0]);
  if (!sp.isSupported) throw new Error("this browser's WebGL lacks what the map needs (float textures)");
  // No rotation (alt-drag by default): the picks' cursor-to-data maths assumes an unrotated view. Set after
  // creation: only `set` passes the key map on to the camera.
  void sp.set({ actionKeyMap: { lasso: "shift", merge: "meta", remove: "alt" } } as Parameters<Scatterplot["set"]>[0]);
  sp.subscribe("draw", () => {
    canvas.dataset.draws = String(Number(canvas.dataset.draws) + 1);
    canvas.dataset.drawMs = drawMs.toFixed(1);
    canvas.dataset.drawnAt = String(performance.now());
    if (applied) drawnApplied(applied);
  });
  sp.subscribe("lassoEnd", onRegion);
  return sp;
}

async function drawMap(map: MapData): Promise<void> {
  const perf = args.performance_mode == null ? map.n >= PERFORMANCE_FROM : Boolean(args.performance_mode);
  if (!scatter || perf !== performanceMode) scatter = create(perf);
  const sp = scatter;
  listenToPointer(); // after regl-scatterplot's own listeners
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (let i = 0; i < map.n; i++) {
    const x = map.coords[2 * i];
    const y = map.coords[2 * i + 1];
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  centre = [(x0 + x1) / 2, (y0 + y1) / 2];
  radius = (Math.max(x1 - x0, y1 - y0, 1e-12) / 2) * 1.05; // a margin, so that no point sits on the edge
  const xs = new Float32Array(map.n);
  const ys = new Float32Array(map.n);
  const classes = new Float32Array(map.n);
  for (let i = 0; i < map.n; i++) {
    xs[i] = (map.coords[2 * i] - centre[0]) / radius;
    ys[i] = (map.coords[2 * i + 1] - centre[1]) / radius;
    classes[i] = classOf(map.labels[i]);
  }
  const size = Number(args.point_size) || (map.n >= 200_000 ? 2 : map.n >= 20_000 ? 3 : 5);
  await sp.set({ pointSize: size });
  await sp.draw({ x: xs, y: ys, valueA: classes }, { zDataType: "categorical" });
  await sp.zoomToArea({ x: -1, y: -1, width: 2, height: 2 }, { transition: false }); // all of it, whatever the aspect
  endMoving();
  snapshotting = await slowDraws(sp);
  await sp.set({ cameraIsFixed: snapshotting } as Parameters<Scatterplot["set"]>[0]);
  canvas.dataset.moving = snapshotting ? "snapshot" : "direct";
  grid = new PointGrid(xs, ys); // hovering is ours at any size: regl-scatterplot's redraws every point
  ownHovered = -1;
  canvas.dataset.points = String(map.n);
  hidden = new Set();
  buildLegend(map);
  triangulation = map.latents ? new Triangulation(map.coords) : null;
}

/** Whether pan and zoom move a picture: as `moving` says, or ("auto") whether a full draw (the second, once the
 * shaders are compiled, when the first was slow) takes longer than a frame. */
async function slowDraws(sp: Scatterplot): Promise<boolean> {
  const mode = String(args.moving ?? "auto");
  if (mode !== "auto") return mode === "snapshot";
  if (drawMs <= SLOW_DRAW_MS) return false;
  await new Promise<void>((resolve) => {
    sp.subscribe("draw", () => resolve(), 1);
    sp.redraw();
  });
  return drawMs > SLOW_DRAW_MS;
}

function buildLegend(map: MapData): void {
  const names = (args.class_names as string[] | undefined) ?? [];
  const present = [...new Set(map.labels)].sort((a, b) => a - b);
  legend.replaceChildren();
  for (const label of present) {
    const name = label < 0 ? "unlabelled" : (names[label] ?? `class ${label}`);
    const button = element("button", "entry");
    button.type = "button";
    button.dataset.label = String(label);
    button.setAttribute("aria-pressed", "true");
    button.title = `Hide or show ${name}`;
    const swatch = element("span", "swatch");
    swatch.style.background = label < 0 ? UNLABELLED : PALETTE[classOf(label)];
    button.append(swatch, element("span", "", name));
    button.addEventListener("click", () => {
      if (hidden.has(label)) hidden.delete(label);
      else hidden.add(label);
      button.setAttribute("aria-pressed", String(!hidden.has(label)));
      void applyFilter();
    });
    legend.append(button);
  }
}

async function applyFilter(): Promise<void> {
  if (!scatter || !data) return;
  if (hidden.size === 0) {
    await scatter.unfilter();
    return;
  }
  const shown: number[] = [];
  for (let i = 0; i < data.n; i++) if (!hidden.has(data.labels[i])) shown.push(i); // sorted, as filter wants
  await scatter.filter(shown);
}

// ---- cursor and data coordinates -------------------------------------------------------------------------------

/** A canvas position (CSS pixels) in data coordinates: the inverse of projection * camera view (no rotation). */
function toData(px: number, py: number): [number, number] {
  const [nx, ny] = toNdc(px, py);
  return [nx * radius + centre[0], ny * radius + centre[1]];
}

/** A canvas position (CSS pixels) in the map's NDC ([-1, 1] holds every point). */
function toNdc(px: number, py: number): [number, number] {
  const rect = canvas.getBoundingClientRect();
  const view = scatter!.get("camera").view as Float32Array; // column-major 4x4: scale s, translation t
  const gx = (-1 + (2 * px) / rect.width) * (rect.width / rect.height); // undo the projection's 1 / aspect
  const gy = 1 - (2 * py) / rect.height;
  const [a, b, c, d, e, f] = [view[0], view[1], view[4], view[5], view[12], view[13]];
  const det = a * d - b * c;
  const u = gx - e;
  const v = gy - f;
  return [(d * u - c * v) / det, (a * v - b * u) / det];
}

/** A data position's canvas position (CSS pixels). */
function toScreen(x: number, y: number): [number, number] {
  const rect = canvas.getBoundingClientRect();
  const view = scatter!.get("camera").view as Float32Array;
  const nx = (x - centre[0]) / radius;
  const ny = (y - centre[1]) / radius;
  const gx = (view[0] * nx + view[4] * ny + view[12]) / (rect.width / rect.height);
  const gy = view[1] * nx + view[5] * ny + view[13];
  return [((gx + 1) / 2) * rect.width, ((1 - gy) / 2) * rect.height];
}

function hovered(): number {
  return ownHovered;
}

// ---- hover preview ---------------------------------------------------------------------------------------------

function checkShape(dims: readonly number[]): void {
  const [, c, h, w] = dims;
  if (c !== imageShape[0] || h !== imageShape[1] || w !== imageShape[2])
    throw new Error(`the decoder drew images of shape (${c}, ${h}, ${w}), not (${imageShape.join(", ")})`);
}

function painted(): void {
  preview.dataset.frames = String(Number(preview.dataset.frames) + 1);
}

function place(px: number, py: number): void {
  const width = box.clientWidth;
  const height = box.clientHeight;
  const w = preview.offsetWidth || 130;
  const h = preview.offsetHeight || 150;
  preview.style.left = `${px + 16 + w > width ? Math.max(0, px - 16 - w) : px + 16}px`;
  preview.style.top = `${py + 16 + h > height ? Math.max(0, py - 16 - h) : py + 16}px`;
}

function hidePreview(): void {
  ring.hidden = true;
  hoverToken += 1;
  hoverShown = "";
  preview.hidden = true;
  preview.dataset.kind = "";
}

function row(latents: Float32Array, d: number, i: number): Float32Array {
  return latents.slice(i * d, (i + 1) * d);
}

function previewDecode(z: Float32Array, since: number, token: number): void {
  painter.request({
    latents: z,
    n: 1,
    d: z.length,
    since,
    draw: (out) => {
      checkShape(out.dims);
      if (token !== hoverToken) return; // the cursor has moved on to something else
      drawGrid(previewCanvas, out.data, out.dims, 1, PREVIEW_SCALE);
      previewCanvas.hidden = false;
      painted();
    },
  });
}

function showPoint(map: MapData, i: number, since: number): void {
  if (hoverShown === `point ${i}`) return;
  hoverShown = `point ${i}`;
  const token = ++hoverToken;
  const names = (args.class_names as string[] | undefined) ?? [];
  const label = map.labels[i];
  preview.dataset.kind = "point";
  preview.dataset.index = String(i);
  delete preview.dataset.triangle;
  delete preview.dataset.weights;
  delete preview.dataset.z;
  previewCaption.textContent = `${label < 0 ? "unlabelled" : (names[label] ?? `class ${label}`)} · ${pointName(map, i)}`;
  preview.hidden = false;
  if (map.thumbs?.has(i)) {
    markInput(since);
    void map.thumbs.draw(previewCanvas, i, PREVIEW_SCALE).then(() => {
      if (token !== hoverToken) return;
      previewCanvas.hidden = false;
      painted();
      markPainted(since);
    });
  } else if (map.latents && painter.decoderId) {
    previewDecode(row(map.latents, map.d, i), since, token);
  } else {
    previewCanvas.hidden = true;
  }
}

function showSpace(map: MapData, x: number, y: number, since: number): void {
  if (!triangulation || !map.latents) {
    hidePreview();
    return;
  }
  const at = triangulation.locate(x, y);
  preview.dataset.x = String(x);
  preview.dataset.y = String(y);
  delete preview.dataset.index;
  if (!at) {
    if (hoverShown === "outside") return;
    hoverToken += 1;
    hoverShown = "outside";
    preview.dataset.kind = "outside";
    delete preview.dataset.triangle;
    delete preview.dataset.weights;
    delete preview.dataset.z;
    previewCanvas.hidden = true;
    previewCaption.textContent = "outside the map";
    preview.hidden = false;
    return;
  }
  hoverShown = "space";
  const token = ++hoverToken;
  const z = blend(map.latents, map.d, at);
  preview.dataset.kind = "space";
  preview.dataset.triangle = at.triangle.join(",");
  preview.dataset.weights = at.weights.join(",");
  preview.dataset.z = Array.from(z).join(",");
  previewCaption.textContent = "between points";
  preview.hidden = false;
  if (painter.decoderId) previewDecode(z, since, token);
}

/** The point under canvas position (px, py), as regl-scatterplot's raycast finds it (within the point's drawn
 * radius plus 4 pixels; hidden classes left out), or -1. */
function pointAt(px: number, py: number): number {
  if (!grid || !data || !scatter) return -1;
  const map = data;
  const s = (scatter.get("camera").view as Float32Array)[0];
  const scale = s > 1 ? Math.asinh(s) / Math.asinh(1) : 1; // regl-scatterplot's asinh point scale
  const size = Number(scatter.get("pointSize")) || 1;
  const reach = ((size * scale + 4 / devicePixelRatio) * 2) / (canvas.clientHeight * s); // CSS pixels to NDC
  const [x, y] = toNdc(px, py);
  return grid.nearest(x, y, reach, (i) => !hidden.has(map.labels[i]));
}

/** Highlight point i with a ring (regl-scatterplot's hover highlight would redraw every point). */
function showRing(i: number): void {
  if (i < 0) {
    ring.hidden = true;
    return;
  }
  const s = (scatter!.get("camera").view as Float32Array)[0];
  const size = (Number(scatter!.get("pointSize")) || 1) * (s > 1 ? Math.asinh(s) / Math.asinh(1) : 1) + 6;
  const [x, y] = toScreen(data!.coords[2 * i], data!.coords[2 * i + 1]);
  ring.style.width = ring.style.height = `${size}px`;
  ring.style.transform = `translate(${x - size / 2}px, ${y - size / 2}px)`;
  ring.hidden = false;
}

function onMove(event: MouseEvent): void {
  if (!scatter || !data || failed) return;
  const rect = canvas.getBoundingClientRect();
  const px = event.clientX - rect.left;
  const py = event.clientY - rect.top;
  const inside = px >= 0 && py >= 0 && px < rect.width && py < rect.height;
  if (!inside || event.buttons !== 0 || snapView || document.elementFromPoint(event.clientX, event.clientY) !== canvas) {
    if (!preview.hidden || !ring.hidden) hidePreview();
    return;
  }
  ownHovered = pointAt(px, py);
  showRing(ownHovered);
  const i = hovered();
  if (i >= 0) showPoint(data, i, event.timeStamp);
  else showSpace(data, ...toData(px, py), event.timeStamp);
  place(px, py);
}

// ---- picks -----------------------------------------------------------------------------------------------------

function report(): void {
  setValue("map", { ok: true, drawn: data?.n ?? 0, pick, seq });
}

function pickFigure(caption: string): HTMLCanvasElement {
  const figure = element("figure");
  const c = element("canvas");
  c.setAttribute("role", "img");
  c.setAttribute("aria-label", caption);
  figure.append(c, element("figcaption", "", caption));
  panel.append(figure);
  return c;
}

function pickDecode(target: HTMLCanvasElement, latents: Float32Array, n: number, columns: number, scale: number): void {
  if (!pickPainter.decoderId) return;
  pickPainter.request({
    latents,
    n,
    d: latents.length / n,
    draw: (out) => {
      checkShape(out.dims);
      drawGrid(target, out.data, out.dims, columns, scale);
      target.dataset.frames = String(Number(target.dataset.frames ?? 0) + 1);
      fitTo(root);
    },
  });
}

function showPick(map: MapData, at?: Enclosing | null): void {
  panel.replaceChildren();
  panel.dataset.kind = pick?.kind ?? "";
  panel.dataset.seq = String(seq);
  if (!pick) return;
  const names = (args.class_names as string[] | undefined) ?? [];
  const name = (i: number) => (map.labels[i] < 0 ? "unlabelled" : (names[map.labels[i]] ?? `class ${map.labels[i]}`));
  if (pick.kind === "point") {
    const i = pick.index;
    const title = pointName(map, i);
    panel.append(element("p", "title", `${title[0].toUpperCase()}${title.slice(1)} · ${name(i)}`));
    if (map.thumbs?.has(i)) void map.thumbs.draw(pickFigure("Image"), i, PICK_SCALE);
    if (map.latents) {
      pickDecode(pickFigure(String(args.decode_caption ?? "Reconstruction")), row(map.latents, map.d, i), 1, 1, PICK_SCALE);
      if (args.show_latent) panel.append(latentText(row(map.latents, map.d, i)));
    }
  } else if (pick.kind === "space") {
    panel.append(element("p", "title", `Empty space (${pick.x.toFixed(2)}, ${pick.y.toFixed(2)})`));
    if (at && map.latents) {
      const z = blend(map.latents, map.d, at);
      pickDecode(pickFigure("Interpolated (Delaunay)"), z, 1, 1, PICK_SCALE);
      if (args.show_latent) panel.append(latentText(z));
    } else panel.append(element("p", "", "outside the map"));
  } else {
    const index = pick.index;
    panel.append(element("p", "title", `${index.length} point${index.length === 1 ? "" : "s"} selected`));
    const some = index.slice(0, REGION_THUMBS);
    if (map.thumbs && some.length && some.every((i) => map.thumbs!.has(i)))
      void map.thumbs.drawGrid(pickFigure(`First ${some.length}`), some, 4, 2);
    if (map.latents && index.length) {
      const mean = new Float32Array(map.d);
      for (const i of index) for (let j = 0; j < map.d; j++) mean[j] += map.latents[i * map.d + j] / index.length;
      pickDecode(pickFigure("Decoded mean latent"), mean, 1, 1, PICK_SCALE);
      if (args.show_latent) panel.append(latentText(mean));
    }
  }
  fitTo(root);
}

/** z as text, 4 decimals, for the pick panel where the host asks for it (`show_latent`). */
function latentText(z: Float32Array): HTMLElement {
  const text = element("pre", "latent", "[" + Array.from(z, (v) => v.toFixed(4)).join(", ") + "]");
  text.setAttribute("aria-label", "Latent");
  return text;
}

/** Show a pick the host restores (a shared link's) as if the hand had made it; reported as a pick is. */
function restorePick(map: MapData, wanted: Pick): void {
  let at: Enclosing | null = null;
  if (wanted.kind === "point") {
    const i = wanted.index;
    if (!(Number.isInteger(i) && i >= 0 && i < map.n)) return;
    pick = { kind: "point", index: i, x: map.coords[2 * i], y: map.coords[2 * i + 1] };
  } else if (wanted.kind === "space") {
    at = triangulation?.locate(wanted.x, wanted.y) ?? null;
    pick = { kind: "space", x: wanted.x, y: wanted.y, triangle: at ? at.triangle : null, weights: at ? at.weights : null };
  } else {
    const index = wanted.index.filter((i) => Number.isInteger(i) && i >= 0 && i < map.n);
    pick = { kind: "region", index };
    void scatter?.select(index, { preventEvent: true });
  }
  seq += 1;
  showPick(map, at);
}

function showExact(exact: Exact): void {
  if (!pick || pick.kind !== "space" || exact.seq !== seq || exact.seq === shownExact) return;
  shownExact = exact.seq;
  pickDecode(pickFigure(String(exact.label)), Float32Array.from(exact.z), 1, 1, PICK_SCALE);
}

function onClick(event: MouseEvent): void {
  if (!scatter || !data || failed || !down || snapView) return;
  if (down.far > CLICK_SLOP) return; // a drag: pan, box or lasso
  const rect = canvas.getBoundingClientRect();
  ownHovered = pointAt(event.clientX - rect.left, event.clientY - rect.top);
  const i = hovered();
  seq += 1;
  let at: Enclosing | null = null;
  if (i >= 0) {
    pick = { kind: "point", index: i, x: data.coords[2 * i], y: data.coords[2 * i + 1] };
  } else {
    const [x, y] = toData(event.clientX - rect.left, event.clientY - rect.top);
    at = triangulation?.locate(x, y) ?? null;
    pick = { kind: "space", x, y, triangle: at ? at.triangle : null, weights: at ? at.weights : null };
  }
  showPick(data, at);
  report();
}

/** Clear selection: the highlight and the pick go, and the host hears that nothing is picked. */
function clearPick(): void {
  scatter?.deselect();
  if (!data || !pick) return;
  seq += 1;
  pick = null;
  showPick(data);
  report();
}

function onRegion(): void {
  if (!scatter || !data || !down) return;
  if (down.far <= CLICK_SLOP) return; // a click, not a box or lasso
  const selected = [...(scatter.get("selectedPoints") as number[])].sort((a, b) => a - b);
  seq += 1;
  pick = { kind: "region", index: selected };
  showPick(data);
  report();
}

// ---- pan and zoom by picture (snapshot mode) ------------------------------------------------------------------

/** The view shown now: the one the hand asked for while a move waits, else the camera's. */
function currentView(): View {
  return snapView ? target : viewOf(scatter!.get("camera").view as Float32Array);
}

/** Keep what the canvas shows now (a full draw at `view`) as the picture to move. */
function takeSnapshot(view: View): void {
  snapshot.width = canvas.width;
  snapshot.height = canvas.height;
  snapshot.getContext("2d")!.drawImage(canvas, 0, 0);
  overlay.width = canvas.width;
  overlay.height = canvas.height;
  snapView = view;
}

/** The hand asks for `view` (input at `since`): paint the picture moved there on the next frame, and draw the
 * points there once the hand rests. */
function moveTo(view: View, since: number): void {
  if (!snapView) {
    takeSnapshot(viewOf(scatter!.get("camera").view as Float32Array));
    hidePreview();
    ownHovered = -1;
    canvas.dataset.pending = "1";
  }
  target = view;
  lastInput = since;
  if (!framePending) {
    framePending = true;
    requestAnimationFrame(paintFrame);
  }
  clearTimeout(settleTimer);
  settleTimer = window.setTimeout(apply, SETTLE_MS);
}

function paintFrame(): void {
  framePending = false;
  if (!snapView) return;
  paintMoved(overlay, snapshot, snapView, target, BACKGROUND);
  overlay.hidden = false;
  canvas.dataset.movedFrames = String(Number(canvas.dataset.movedFrames) + 1);
  performance.mark("genviz:moved", { detail: { input: lastInput } });
}

/** The hand rests: regl-scatterplot draws the points at the asked view (on its next frame). */
function apply(): void {
  settleTimer = 0;
  if (!scatter || !snapView) return;
  applied = target;
  scatter.view(matrixOf(target));
}

/** regl-scatterplot has drawn view `view` (handed over by apply): done, unless the hand moved on meanwhile;
 * then the crisp picture is the one to move from. */
function drawnApplied(view: View): void {
  applied = null;
  if (!sameView(view, target) || settleTimer) {
    takeSnapshot(view);
    if (!framePending) {
      framePending = true;
      requestAnimationFrame(paintFrame);
    }
    return;
  }
  endMoving();
  performance.mark("genviz:settled", { detail: { input: lastInput } });
}

function endMoving(): void {
  clearTimeout(settleTimer);
  settleTimer = 0;
  snapView = null;
  applied = null;
  dragFrom = null;
  if (overlay) overlay.hidden = true;
  if (canvas) canvas.dataset.pending = "0";
}

function onWheel(event: WheelEvent): void {
  if (!snapshotting || !scatter || event.target !== canvas) return;
  event.preventDefault();
  event.stopPropagation(); // neither regl-scatterplot's camera nor its redraw
  const rect = canvas.getBoundingClientRect();
  const delta = (event.deltaMode === 1 ? 12 : 1) * (event.deltaY || event.deltaX || 0);
  const factor = Math.exp(-delta / rect.height); // as dom-2d-camera zooms
  const px = event.clientX - rect.left;
  const py = event.clientY - rect.top;
  moveTo(zoomAbout(currentView(), px, py, factor, rect.width, rect.height), event.timeStamp);
}

function onMouseDown(event: MouseEvent): void {
  if (snapshotting && scatter && event.target === canvas && event.button === 0 && canvas.dataset.mode === "pan")
    dragFrom = { x: event.clientX, y: event.clientY };
}

/** Before anyone else's mousemove (window, capture phase): hovering is ours (regl-scatterplot's hover redraws every
 * point, a frame or more from some thousands of points); in snapshot mode a pan moves the picture; a box or lasso,
 * and a direct-mode pan, go on to regl-scatterplot. */
function onMoveFirst(event: MouseEvent): void {
  if (!scatter || box.offsetParent === null) return; // none, or not shown (a site's other view is)
  if (snapshotting && dragFrom) {
    event.stopPropagation();
    if (!(event.buttons & 1)) {
      dragFrom = null;
      return;
    }
    const rect = canvas.getBoundingClientRect();
    const view = panBy(currentView(), event.clientX - dragFrom.x, event.clientY - dragFrom.y, rect.width, rect.height);
    dragFrom = { x: event.clientX, y: event.clientY };
    moveTo(view, event.timeStamp);
  } else if (event.buttons === 0) {
    event.stopPropagation();
    onMove(event);
  }
}

let listening = false;

function listenToPointer(): void {
  if (listening) return;
  listening = true;
  window.addEventListener("wheel", onWheel, { capture: true, passive: false });
  window.addEventListener("mousedown", onMouseDown, { capture: true });
  window.addEventListener("mousemove", onMoveFirst, { capture: true });
  window.addEventListener("mouseup", () => (dragFrom = null), { capture: true });
  // A click while a moved view waits would pick by the old view: nobody gets it.
  window.addEventListener("click", (event) => snapView && event.target === canvas && event.stopPropagation(), {
    capture: true,
  });
  // A direct-mode zoom moves the points under the ring and the preview: hidden until the next move.
  window.addEventListener("wheel", (event) => !snapshotting && event.target === canvas && hidePreview(), {
    passive: true,
  });
  canvas.addEventListener("pointerdown", (event) => {
    down = { x: event.clientX, y: event.clientY, far: 0 };
    hidePreview();
    canvas.focus({ preventScroll: true });
  });
  window.addEventListener("pointermove", (event) => {
    if (down && event.buttons) down.far = Math.max(down.far, Math.hypot(event.clientX - down.x, event.clientY - down.y));
  });
  canvas.addEventListener("click", onClick);
  canvas.addEventListener("mouseleave", hidePreview);
}

// ---- the render loop -------------------------------------------------------------------------------------------

let loading: Promise<void> | null = null;

function useDecoder(): void {
  if (!data || failed) return;
  const id = String(args.decoder_id ?? "");
  const model = args.decoder instanceof Uint8Array ? args.decoder : new Uint8Array(0);
  const key = `${dataId}|${id}`;
  if (!id) {
    if (data.latents || data.thumbs) {
      if (!announced) {
        announced = true;
        setValue("map", { alive: true, webassembly: typeof WebAssembly === "object", drawn: data.n });
      }
    } else if (reported !== key) {
      reported = key; // a synthetic map: nothing to decode
      report();
    }
    return;
  }
  painter.use(id, model);
  pickPainter.use(id, model);
  if (reported === key) return;
  reported = key;
  Promise.all([painter.ready(), pickPainter.ready()]).then(() => {
    canvas.dataset.decoder = "ready";
    if (!failed && reported === key) report();
  }, fail);
}

async function loadMap(id: string, n: number): Promise<void> {
  const sent = args.data instanceof Uint8Array ? args.data : new Uint8Array(0);
  const bytes = n > 0 ? null : await dataBytes(id, sent);
  const start = performance.now(); // the map's data in hand (or about to be generated)
  const map = bytes ? parse(bytes) : synthetic(n);
  if (id !== dataId) return; // another map was asked for meanwhile
  performance.mark("genviz:map-start", { startTime: start });
  data = map;
  pick = null;
  showPick(map);
  hidePreview();
  await drawMap(map);
  performance.mark("genviz:map-drawn");
  if (args.warm_thumbnails) map.thumbs?.warm();
  if (args.pick) restorePick(map, args.pick as Pick);
}

export function renderMap(next: RenderArgs): void {
  args = next;
  layout(Number(next.height ?? 560));
  if (failed) return;
  const error = webglError();
  if (error) {
    fail(error);
    return;
  }
  imageShape = (next.image_shape as [number, number, number]) ?? imageShape;
  const n = Number(next.synthetic ?? 0);
  const id = n > 0 ? `synthetic ${n}` : String(next.data_id ?? "");
  const sent = next.data instanceof Uint8Array ? next.data : new Uint8Array(0);
  if (supply && supply.id === id && sent.byteLength) {
    void save(`map ${id}`, sent);
    supply.resolve(sent.slice());
    supply = null;
  }
  if (id !== dataId) {
    dataId = id;
    data = null;
    reported = "";
    loading = loadMap(id, n).then(useDecoder, fail);
  } else if (data) {
    useDecoder();
  }
  if (next.exact) void loading?.then(() => showExact(next.exact as Exact));
  fitTo(root);
}

// For tests and benchmarks: where point i is drawn (canvas CSS pixels, regl-scatterplot's own answer), and the
// map's data coordinates <-> canvas pixels as the hover and picks use them.
Object.assign(window, {
  genvizMap: {
    screenOf: (i: number) => (data && scatter ? scatter.getScreenPosition(i) : null),
    toScreen: (x: number, y: number) => (scatter ? toScreen(x, y) : null),
    toData: (px: number, py: number) => (scatter ? toData(px, py) : null),
    hovered,
  },
});
