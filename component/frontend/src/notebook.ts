// The notebook host: genviz.notebook's Explorer widget (anywidget) in JupyterLab, Notebook 7, VS Code, Colab or
// marimo. Python sends one model's files once, as binary buffers (the files a static site holds, made in memory by
// genviz.site.browser_model), and the WASM runtime from the installed package, so nothing is fetched. The views are
// the app's and the site's (map.ts, live.ts, grids.ts), their arguments made by site/views.ts; the state a site keeps
// in its address lives in the widget's traitlets: view, selected, hovered, latent, seed, ends.
import { useWasmBinary } from "./decoder";
import { renderGrid } from "./grids";
import { useHost, type ViewName } from "./host";
import { renderSliders } from "./live";
import { renderMap } from "./map";
import { readModel, type Model, type ModelInfo } from "./site/files";
import { VIEWS, type ViewKey } from "./site/route";
import * as v from "./site/views";

const MODULES: Record<ViewKey, ViewName> = { map: "map", sliders: "sliders", sample: "grids", interpolate: "grids" };
const MAP_HEIGHT = 520;
const GRID_SIDE = 8;
const NO_WASM =
  "This notebook front end cannot run WebAssembly, which the explorer needs to decode: open the notebook in " +
  "JupyterLab, Notebook 7, VS Code or a recent browser.";

/** The part of anywidget's model the host uses (traitlets by name; binary ones arrive as DataView). */
interface WidgetModel {
  get(name: string): unknown;
  set(name: string, value: unknown): void;
  save_changes(): void;
  on(event: string, callback: () => void): void;
  off(event: string, callback: () => void): void;
}

/** A binary traitlet's bytes, copied so that its buffer starts at 0 (typed arrays of any element size fit). */
function bytes(value: unknown): Uint8Array<ArrayBuffer> {
  if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0));
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength).slice();
  return new Uint8Array(0);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, text = ""): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text) e.textContent = text;
  return e;
}

// anywidget imports this module once per widget, so these belong to one Explorer (shown in its latest output).
let widget: WidgetModel;
let data: Model | null = null;
const roots = new Map<ViewName, HTMLElement>();
let mountPoint: HTMLElement | null = null;
let status: HTMLElement | null = null;
let tabs: HTMLButtonElement[] = [];
let slidersId = 0; // bumped when Python sets the latent: the sliders start again from it
let reportedLatent = new Uint8Array(0); // the latent the sliders last reported, so that its echo is not a new start

function say(text: string): void {
  if (!status) return;
  status.textContent = text;
  status.hidden = !text;
  if (widget.get("error") !== text) {
    widget.set("error", text);
    widget.save_changes();
  }
}

function viewKey(): ViewKey {
  const view = String(widget.get("view"));
  return VIEWS.some((x) => x.key === view) ? (view as ViewKey) : "map";
}

/** The model's files, read once: tiles become blob URLs, which the map's thumbnails fetch like a site's. */
function model(): Model {
  if (data) return data;
  const info = structuredClone(widget.get("_info")) as ModelInfo;
  const tiles = (widget.get("_tiles") as unknown[]) ?? [];
  if (info.thumbnails)
    info.thumbnails = { ...info.thumbnails, folder: "", tiles: tiles.map((t) => URL.createObjectURL(new Blob([bytes(t)], { type: "image/png" }))) };
  const files = ["_decoder", "_map", "_latent_stats"].map((name) => bytes(widget.get(name)));
  data = readModel(info, "", files[0], files[1], files[2]);
  return data;
}

function placeRoots(): void {
  const wanted = MODULES[viewKey()];
  for (const [view, root] of roots) {
    if (view === wanted) {
      if (root.parentElement !== mountPoint) mountPoint?.append(root);
    } else root.remove();
  }
}

function show(): void {
  if (!mountPoint) return;
  const key = viewKey();
  for (const tab of tabs) {
    const pressed = tab.dataset.view === key;
    tab.setAttribute("aria-pressed", String(pressed));
    tab.style.cssText = pressed ? "background: #ff4b4b; color: #fff; border-color: #ff4b4b;" : "";
  }
  placeRoots();
  let m: Model;
  try {
    m = model();
  } catch (error) {
    say(`The explorer cannot read its model: ${error instanceof Error ? error.message : String(error)}.`);
    return;
  }
  if (key === "map") renderMap(v.mapArgs(m, MAP_HEIGHT, null));
  else if (key === "sliders") renderSliders(v.sliderArgs(m, sliderState(m)));
  else if (key === "sample") {
    const seed = Number(widget.get("seed"));
    const label = m.info.conditional ? 0 : null;
    const spec = v.CONTROLS.temperature;
    const controlsId = `sample|${seed}`;
    renderGrid(v.sampleArgs(m, { seed, side: GRID_SIDE, kind: "temperature", value: spec.value, label, controlsId }));
  } else {
    const ends = (widget.get("ends") as number[] | null) ?? [];
    const specs = ends.length === 2 ? ends.map((i) => `p${i}`) : v.defaultEnds(m);
    const [a, b] = specs.map((spec) => v.latentOf(m, spec));
    if (!a || !b) {
      say(`The ends ${ends.join(", ")} are not both points of the map (it has ${m.labels.length}).`);
      return;
    }
    renderGrid(v.pathArgs(m, { a, b, method: "slerp", steps: 8, controlsId: `path|${specs.join("|")}` }));
  }
}

function sliderState(m: Model): v.SliderState {
  const base = new Float32Array(bytes(widget.get("latent")).buffer);
  const known = v.knownClasses(m);
  const traverse = v.hasDimSliders(m) ? m.order[0] : 0;
  const controlsId = `sliders|${slidersId}`;
  return { base, controlsId, values: new URLSearchParams(), traverse, from: known[0] ?? 0, to: known[1] ?? 0 };
}

/** What the views report, into the traitlets: the map's pick as `selected`, the sliders' latent as `latent`. */
function onReport(view: ViewName, value: unknown): void {
  const report = (value ?? {}) as Record<string, unknown>;
  if (view !== MODULES[viewKey()]) return;
  if (report.ok === false) {
    say(`This view cannot be drawn here: ${String(report.error ?? "no reason given")}.`);
    return;
  }
  if (report.need) {
    show(); // the view lacks bytes it was given (its store failed): give them again
    return;
  }
  if (report.ok !== true) return;
  if (view === "map") {
    const pick = report.pick as { kind: string; index?: number | number[] } | null;
    const index = pick?.kind === "region" ? (pick.index as number[]) : pick?.kind === "point" ? [pick.index as number] : [];
    const next = new Uint8Array(Int32Array.from(index).buffer);
    if (!sameBytes(next, bytes(widget.get("selected")))) {
      widget.set("selected", new DataView(next.buffer));
      widget.save_changes();
    }
  } else if (view === "sliders" && Array.isArray(report.z)) {
    reportedLatent = new Uint8Array(Float32Array.from(report.z as number[]).buffer);
    if (!sameBytes(reportedLatent, bytes(widget.get("latent")))) {
      widget.set("latent", new DataView(reportedLatent.buffer));
      widget.save_changes();
    }
  }
}

/** The point under the mouse (the map's hover preview says which), or null. */
function watchHover(root: HTMLElement): void {
  const preview = root.querySelector<HTMLElement>("[data-testid=map-preview]");
  if (!preview) return;
  new MutationObserver(() => {
    const index = preview.dataset.kind === "point" && !preview.hidden ? Number(preview.dataset.index) : null;
    if (widget.get("hovered") === index) return;
    widget.set("hovered", index);
    widget.save_changes();
  }).observe(preview, { attributes: true, attributeFilter: ["hidden", "data-kind", "data-index"] });
}

function onLatent(): void {
  if (sameBytes(bytes(widget.get("latent")), reportedLatent)) return; // the sliders' own report coming back
  slidersId += 1;
  if (viewKey() === "sliders") show();
}

function onView(): void {
  say("");
  show();
}

function onInput(): void {
  const key = viewKey();
  if (key === "sample" || key === "interpolate") show();
}

let renders = 0; // the widget shown again (another output of it) takes the views: only the latest output acts

function render({ model: m, el }: { model: WidgetModel; el: HTMLElement }): () => void {
  widget = m;
  const mine = ++renders;
  const latest = (act: () => void) => () => {
    if (mine === renders) act();
  };
  const bar = element("div");
  bar.className = "genviz-tabs";
  bar.style.cssText = "display: flex; gap: 0.25rem; margin: 0 0 0.5rem;";
  tabs = VIEWS.map(({ key, label }) => {
    const tab = element("button", label);
    tab.type = "button";
    tab.dataset.view = key;
    tab.addEventListener("click", () => {
      widget.set("view", key);
      widget.save_changes();
      onView();
    });
    return tab;
  });
  bar.append(...tabs);
  status = element("p");
  status.setAttribute("role", "status");
  status.dataset.testid = "notebook-status";
  status.style.cssText = "margin: 0 0 0.5rem; color: #7d1a1a;";
  status.hidden = true;
  mountPoint = element("div");
  el.replaceChildren(bar, status, mountPoint);
  if (typeof WebAssembly !== "object") {
    say(NO_WASM);
    return () => {};
  }
  useWasmBinary(bytes(m.get("_wasm")));
  useHost({
    report: onReport,
    resize: () => {}, // the output grows with its content
    mount(view, root) {
      roots.set(view, root);
      if (view === "map") watchHover(root);
      placeRoots();
    },
  });
  // This output's own listeners, so that closing an earlier output of the widget leaves the later one's in place.
  const listeners: [string, () => void][] = [
    ["change:view", latest(onView)],
    ["change:latent", latest(onLatent)],
    ["change:seed", latest(onInput)],
    ["change:ends", latest(onInput)],
  ];
  for (const [event, listener] of listeners) m.on(event, listener);
  show();
  return () => {
    for (const [event, listener] of listeners) m.off(event, listener);
  };
}

export default { render };
