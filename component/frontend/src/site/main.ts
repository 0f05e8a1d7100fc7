// The static site's host: the explorer with no server. It reads the site's files (files.ts), makes each view's
// arguments (views.ts) and hands them to the same views the Streamlit component draws (map.ts, live.ts, grids.ts);
// the views' values come back as the page's address (route.ts), so that a copied link restores the view.
import { renderGrid } from "../grids";
import { useHost, type ViewName } from "../host";
import { renderSliders } from "../live";
import { renderMap } from "../map";
import { fetchJson, loadModel, type Model, type ModelInfo, type SiteIndex } from "./files";
import { decodeIndices, encodeFloats, encodeIndices, formatRoute, parseRoute, VIEWS, type Route, type ViewKey } from "./route";
import * as v from "./views";

const MODULES: Record<ViewKey, ViewName> = { map: "map", sliders: "sliders", sample: "grids", interpolate: "grids" };
const MAX_SEED = 2 ** 31 - 1;

let site: SiteIndex | null = null;
const infos = new Map<string, Promise<ModelInfo>>();
const models = new Map<string, Promise<Model>>();
const roots = new Map<ViewName, HTMLElement>();
let route: Route = parseRoute(location.hash);
let epoch = 0; // bumped by every navigation the reader makes: the views' controls are drawn again from the address
let shown: { model: Model; view: ViewKey } | null = null;

// ---- the page ------------------------------------------------------------------------------------------------------

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className = "", text = ""): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text) e.textContent = text;
  return e;
}

const picker = document.getElementById("model") as HTMLSelectElement;
const nav = document.getElementById("views") as HTMLElement;
const status = document.getElementById("status") as HTMLElement;
const statusText = status.querySelector("span") as HTMLElement;
const bar = status.querySelector("progress") as HTMLProgressElement;
const card = document.getElementById("card") as HTMLDetailsElement;
const home = document.getElementById("home") as HTMLElement;
const controls = document.getElementById("controls") as HTMLElement;
const mountPoint = document.getElementById("view") as HTMLElement;
const actions = document.getElementById("actions") as HTMLElement;

function say(text: string, error = false): void {
  statusText.textContent = text;
  status.dataset.kind = error ? "error" : "info";
  status.hidden = !text;
  bar.hidden = true;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function progress(name: string, loaded: number, total: number): void {
  say(`Loading ${name}: ${megabytes(loaded)} of ${megabytes(total)}`);
  bar.hidden = false;
  bar.max = total;
  bar.value = loaded;
}

useHost({
  report: onReport,
  resize: () => {}, // the page grows with its content
  mount(view, root) {
    roots.set(view, root);
    placeRoots();
  },
});

/** The shown view's root in the page, every other one out of it (kept, with its decoder, for a return). */
function placeRoots(): void {
  const wanted = route.view ? MODULES[route.view] : null;
  for (const [view, root] of roots) {
    if (view === wanted) {
      if (root.parentElement !== mountPoint) mountPoint.append(root);
    } else root.remove();
  }
}

function go(view: ViewKey | null, model: string, params?: Record<string, string> | URLSearchParams): void {
  location.hash = formatRoute(view, model, params);
}

/** Change the address without a navigation (the views' state): no new history entry, no redraw. */
function remember(params: URLSearchParams): void {
  if (!route.view) return;
  const hash = formatRoute(route.view, route.model, params);
  history.replaceState(null, "", hash);
  route = parseRoute(hash);
}

function info(name: string): Promise<ModelInfo> {
  const entry = site!.models.find((m) => m.name === name)!;
  let found = infos.get(name);
  if (!found) {
    found = fetchJson<ModelInfo>(`${entry.folder}model.json`);
    infos.set(name, found);
    found.catch(() => infos.delete(name));
  }
  return found;
}

function model(name: string): Promise<Model> {
  const entry = site!.models.find((m) => m.name === name)!;
  let found = models.get(name);
  if (!found) {
    found = loadModel(entry.folder, progress);
    models.set(name, found);
    found.catch(() => models.delete(name)); // a later visit tries again
  }
  return found;
}

function showCard(m: ModelInfo): void {
  card.replaceChildren();
  card.append(element("summary", "", `About ${m.name}`), element("p", "", m.card.summary));
  const points = m.points === "test" ? "test images" : "samples of the prior";
  card.append(element("p", "", `Map: ${m.map.method.toUpperCase()} of ${m.map.n.toLocaleString("en")} ${points}.`));
  if (m.card.facts.length) {
    const table = element("table");
    for (const [name, value] of m.card.facts) {
      const row = element("tr");
      row.append(element("th", "", name), element("td", "", value));
      table.append(row);
    }
    card.append(table);
  }
  card.hidden = false;
}

function showNav(): void {
  for (const link of Array.from(nav.querySelectorAll("a"))) {
    const key = link.dataset.view as ViewKey;
    link.href = formatRoute(key, route.model || picker.value);
    if (key === route.view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function showHome(): Promise<void> {
  home.hidden = false;
  home.replaceChildren(element("h1", "", "Models"));
  const list = element("div", "models");
  home.append(list);
  for (const entry of site!.models) {
    const item = element("article", "model");
    list.append(item);
    try {
      const m = await info(entry.name);
      item.append(element("h2", "", m.name), element("p", "", m.card.summary));
      const links = element("p", "links");
      for (const view of VIEWS) {
        const link = element("a", "", view.label);
        link.href = formatRoute(view.key, m.name);
        links.append(link);
      }
      item.append(links);
    } catch (error) {
      item.append(element("h2", "", entry.name), element("p", "error", message(error)));
    }
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// ---- routing -------------------------------------------------------------------------------------------------------

async function show(): Promise<void> {
  route = parseRoute(location.hash);
  const names = site!.models.map((m) => m.name);
  if (route.view && !names.includes(route.model)) {
    say(`This site has no model named "${route.model}"; its models are listed below.`, true);
    route = parseRoute("#/");
  }
  showNav();
  placeRoots();
  controls.replaceChildren();
  actions.replaceChildren();
  if (!route.view) {
    card.hidden = true;
    mountPoint.hidden = true;
    document.title = "genviz: models";
    await showHome();
    return;
  }
  home.hidden = true;
  mountPoint.hidden = false;
  picker.value = route.model;
  const view = route.view;
  const label = VIEWS.find((x) => x.key === view)!.label;
  document.title = `${label} · ${route.model} · genviz`;
  let m: Model;
  try {
    m = await model(route.model);
  } catch (error) {
    say(`${route.model} cannot be shown: ${message(error)}.`, true);
    return;
  }
  if (route.view !== view) return; // the reader went elsewhere meanwhile
  if (status.dataset.kind !== "error") say("");
  showCard(m.info);
  shown = { model: m, view };
  if (view === "map") showMap(m);
  else if (view === "sliders") showSliders(m);
  else if (view === "sample") showSample(m);
  else showInterpolate(m);
}

// ---- controls of the page's own (what the app draws with Streamlit's widgets) ------------------------------------

let serial = 0;

function labelled(text: string, control: HTMLElement): HTMLElement {
  const id = `site-control-${serial++}`;
  control.id = id;
  const wrap = element("div", "control");
  const label = element("label", "", text);
  label.htmlFor = id;
  wrap.append(label, control);
  return wrap;
}

function numberInput(value: number, min: number, max: number, onChange: (value: number) => void): HTMLInputElement {
  const input = element("input");
  input.type = "number";
  input.min = String(min);
  input.max = String(max);
  input.step = "1";
  input.value = String(value);
  input.addEventListener("change", () => {
    const next = Math.round(Number(input.value));
    if (Number.isFinite(next) && next >= min && next <= max) onChange(next);
    else input.value = String(value);
  });
  return input;
}

function select(options: { value: string; label: string }[], value: string, onChange: (value: string) => void): HTMLSelectElement {
  const s = element("select");
  for (const option of options) {
    const o = element("option", "", option.label);
    o.value = option.value;
    s.append(o);
  }
  s.value = value;
  s.addEventListener("change", () => onChange(s.value));
  return s;
}

function button(text: string, onClick: () => void): HTMLButtonElement {
  const b = element("button", "", text);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

/** Set address parameters (deleting those given as null) and draw the view again from them. */
function update(changes: Record<string, string | null>, redraw = true): void {
  const params = new URLSearchParams(route.params);
  for (const [key, value] of Object.entries(changes)) {
    if (value === null) params.delete(key);
    else params.set(key, value);
  }
  remember(params);
  if (redraw) void show();
}

function integerParam(name: string, fallback: number, min: number, max: number): number {
  const value = Number(route.params.get(name));
  return route.params.has(name) && Number.isInteger(value) && value >= min && value <= max ? value : fallback;
}

function numberParam(name: string, fallback: number, min: number, max: number): number {
  const value = Number(route.params.get(name));
  return route.params.has(name) && Number.isFinite(value) && value >= min && value <= max ? value : fallback;
}

/** Where a latent comes from: a seed or a map point, chosen with a select and a number. */
function sourceControl(m: Model, title: string, spec: string, onChange: (spec: string) => void): HTMLElement {
  const group = element("fieldset", "source");
  group.append(element("legend", "", title));
  const kind = spec[0] === "p" ? "p" : spec[0] === "z" ? "z" : "s";
  const options = [
    { value: "s", label: "Seed" },
    { value: "p", label: "Map point" },
    ...(kind === "z" ? [{ value: "z", label: "Latent from the address" }] : []),
  ];
  group.append(labelled("From", select(options, kind, (next) => onChange(next === "p" ? "p0" : next === "s" ? "s0" : spec))));
  if (kind !== "z") {
    const max = kind === "p" ? m.labels.length - 1 : MAX_SEED;
    const name = kind === "p" ? `Point (of ${m.labels.length.toLocaleString("en")})` : "Seed";
    group.append(labelled(name, numberInput(Number(spec.slice(1)), 0, max, (k) => onChange(`${kind}${k}`))));
  }
  return group;
}

function download(canvas: HTMLCanvasElement | null, name: string): void {
  canvas?.toBlob((blob) => {
    if (!blob) return;
    const link = element("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }, "image/png");
}

// ---- the views -----------------------------------------------------------------------------------------------------

function pickOf(m: Model): unknown {
  const text = route.params.get("pick") ?? "";
  if (/^p\d+$/.test(text)) return { kind: "point", index: Number(text.slice(1)) };
  if (text[0] === "x") {
    const [x, y] = text.slice(1).split(",").map(Number);
    if (Number.isFinite(x) && Number.isFinite(y)) return { kind: "space", x, y };
  }
  if (text[0] === "r") return { kind: "region", index: decodeIndices(text.slice(1), m.labels.length) };
  return null;
}

function showMap(m: Model): void {
  const height = Math.max(420, Math.min(760, window.innerHeight - 220));
  controls.append(
    element("p", "hint", "Hover to see a point's image, or the decode of the space between points; click a point or empty space; Box and Lasso select."),
  );
  renderMap(v.mapArgs(m, height, pickOf(m)));
  showMapActions(m, pickOf(m) as { kind: string; index?: number | number[]; x?: number; y?: number } | null);
}

/** Links from the map's pick to the other views. */
function showMapActions(m: Model, pick: { kind: string; index?: number | number[]; x?: number; y?: number } | null): void {
  actions.replaceChildren();
  if (!pick) return;
  let spec = "";
  if (pick.kind === "point" && typeof pick.index === "number") spec = `p${pick.index}`;
  else {
    const z = pickLatent(m, pick);
    if (z) spec = `z${encodeFloats(z)}`;
  }
  if (!spec) return;
  const here = route.params;
  const link = (text: string, view: ViewKey, params: Record<string, string>) => {
    const a = element("a", "action", text);
    a.href = formatRoute(view, m.info.name, params);
    actions.append(a);
  };
  link("Edit in latent sliders", "sliders", { start: spec });
  link("Interpolate from here", "interpolate", { a: spec, b: here.get("b") ?? "s1" });
  link("Interpolate to here", "interpolate", { a: "s0", b: spec });
}

/** The latent of an empty-space or region pick, as the map shows it (the Delaunay blend, or the mean). */
function pickLatent(m: Model, pick: { kind: string; index?: number | number[] }): Float32Array | null {
  const d = v.dimOf(m);
  const picked = pick as { triangle?: number[] | null; weights?: number[] | null; index?: number[] };
  if (pick.kind === "space" && picked.triangle && picked.weights) {
    const z = new Float32Array(d);
    picked.triangle.forEach((i, k) => {
      for (let j = 0; j < d; j++) z[j] += picked.weights![k] * m.latents[i * d + j];
    });
    return z;
  }
  if (pick.kind === "region" && Array.isArray(picked.index) && picked.index.length) {
    const z = new Float32Array(d);
    for (const i of picked.index) for (let j = 0; j < d; j++) z[j] += m.latents[i * d + j] / picked.index.length;
    return z;
  }
  return null;
}

function sliderState(m: Model): v.SliderState | null {
  const start = route.params.get("start") ?? "s0";
  const base = v.latentOf(m, start);
  if (!base) return null;
  const known = v.knownClasses(m);
  const traversable = v.hasDimSliders(m) ? Array.from(m.order) : Array.from(m.spreads, (_, k) => k);
  const traverse = integerParam("row", traversable[0], 0, v.dimOf(m) - 1);
  const from = integerParam("from", known[0] ?? 0, 0, 32767);
  const to = integerParam("to", known[1] ?? 0, 0, 32767);
  return { base, controlsId: `${m.info.name}|${start}|${epoch}`, values: route.params, traverse: traversable.includes(traverse) ? traverse : traversable[0], from, to };
}

function showSliders(m: Model): void {
  const start = route.params.get("start") ?? "s0";
  const state = sliderState(m);
  controls.append(sourceControl(m, "Start from", state ? start : "s0", (spec) => update(dropValues({ start: spec }))));
  if (!state) {
    say(`The address's start "${start}" is not a latent of ${m.info.name}; starting from seed 0.`, true);
    update({ start: "s0" });
    return;
  }
  controls.append(button("Reset", () => {
    epoch += 1;
    update(dropValues({}));
  }));
  const dims = v.hasDimSliders(m);
  const traversable = dims ? Array.from(m.order) : Array.from(m.spreads, (_, k) => k);
  const rowName = (k: number) => (dims ? `z[${k}]` : `Principal direction ${k + 1}`);
  const rowOptions = traversable.map((k) => ({ value: String(k), label: rowName(k) }));
  controls.append(labelled(`Traversal of ${dims ? "dimension" : "principal direction"}`, select(rowOptions, String(state.traverse), (k) => update({ row: k }))));
  const known = v.knownClasses(m);
  if (known.length >= 2) {
    const options = known.map((k) => ({ value: String(k), label: m.info.class_names[k] ?? `class ${k}` }));
    controls.append(labelled("From class", select(options, String(state.from), (k) => update({ from: k }))));
    controls.append(labelled("To class", select(options, String(state.to), (k) => update({ to: k }))));
  }
  if (!dims)
    controls.append(element("p", "hint", `This model's latent has ${v.dimOf(m)} dimensions: too many to move one by one (sliders are offered up to ${m.info.max_sliders}); move it along its principal directions and the class direction.`));
  renderSliders(v.sliderArgs(m, state));
}

/** The address's parameters less every control value (a new start, or Reset, starts them afresh). */
function dropValues(changes: Record<string, string | null>): Record<string, string | null> {
  const out: Record<string, string | null> = { ...changes };
  for (const key of route.params.keys()) if (/^(d\d+|pc\d+|cls)$/.test(key)) out[key] = null;
  return out;
}

function showSample(m: Model): void {
  const seed = integerParam("seed", 0, 0, MAX_SEED);
  const side = v.GRID_SIDES.includes(integerParam("grid", 8, 4, 12)) ? integerParam("grid", 8, 4, 12) : 8;
  // A generator that normalises z's length draws the same at every temperature: only truncation moves its samples.
  const lengthless = m.info.ignores_latent_length === true;
  const kind: v.ControlKind = lengthless || route.params.get("control") === "truncation" ? "truncation" : "temperature";
  const spec = v.CONTROLS[kind];
  const value = numberParam("value", spec.value, spec.min, spec.max);
  const classes = m.info.class_names;
  const label = m.info.conditional ? integerParam("class", 0, 0, classes.length - 1) : null;
  controls.append(labelled("Seed", numberInput(seed, 0, MAX_SEED, (k) => update({ seed: String(k) }))));
  controls.append(button("New seed", () => update({ seed: String(Math.floor(Math.random() * MAX_SEED)) })));
  const sides = v.GRID_SIDES.map((k) => ({ value: String(k), label: `${k} x ${k}` }));
  controls.append(labelled("Grid", select(sides, String(side), (k) => update({ grid: k }))));
  const kinds = [
    ...(lengthless ? [] : [{ value: "temperature", label: "Temperature" }]),
    { value: "truncation", label: "Truncation" },
  ];
  controls.append(labelled("Latent control", select(kinds, kind, (k) => update({ control: k, value: null }))));
  if (lengthless) controls.append(element("p", "hint", "No temperature: its generator scales every latent to one length first"));
  if (label !== null) {
    const options = classes.map((name, k) => ({ value: String(k), label: name }));
    controls.append(labelled("Class", select(options, String(label), (k) => update({ class: k }))));
  }
  const name = () => `${m.info.name}${label === null ? "" : `-class${label}`}-seed${seed}-${side}x${side}-${kind}${route.params.get("value") ?? spec.value}.png`;
  controls.append(button("Download PNG", () => download(gridCanvas(), name())));
  const controlsId = `${m.info.name}|${seed}|${side}|${kind}|${label}|${epoch}`;
  renderGrid(v.sampleArgs(m, { seed, side, kind, value, label, controlsId }));
}

function gridCanvas(): HTMLCanvasElement | null {
  return roots.get("grids")?.querySelector("canvas[data-testid=live-grid]") ?? null;
}

function showInterpolate(m: Model): void {
  const fallback = v.defaultEnds(m);
  const ends = ["a", "b"].map((key, k) => {
    const spec = route.params.get(key) ?? fallback[k];
    return v.latentOf(m, spec) ? spec : fallback[k];
  });
  const [a, b] = ends.map((spec) => v.latentOf(m, spec)!);
  controls.append(sourceControl(m, "Start", ends[0], (spec) => update({ a: spec })));
  controls.append(sourceControl(m, "End", ends[1], (spec) => update({ b: spec })));
  const method = route.params.get("method") === "linear" ? "linear" : "slerp";
  const steps = integerParam("steps", 8, 2, 32);
  const name = () => `${m.info.name}-${ends[0].slice(0, 12)}-to-${ends[1].slice(0, 12)}-${route.params.get("method") ?? method}-${route.params.get("steps") ?? steps}.png`;
  controls.append(button("Download PNG", () => download(gridCanvas(), name())));
  controls.append(element("p", "hint", `From ${v.describe(m, ends[0])} to ${v.describe(m, ends[1])}.`));
  const controlsId = `${m.info.name}|${ends.join("|")}|${epoch}`;
  renderGrid(v.pathArgs(m, { a, b, method, steps, controlsId }));
}

// ---- what the views report ---------------------------------------------------------------------------------------

function onReport(view: ViewName, value: unknown): void {
  const report = (value ?? {}) as Record<string, unknown>;
  if (!shown || !route.view || MODULES[route.view] !== view) return; // a view no longer shown
  if (report.ok === false) {
    say(`This view cannot be drawn in this browser: ${String(report.error ?? "no reason given")}.`, true);
    return;
  }
  if (report.need) {
    void show(); // the view lacks bytes it was sent (its store failed): send them again
    return;
  }
  if (report.ok !== true) return;
  const m = shown.model;
  if (view === "map") {
    const pick = report.pick as { kind: string; index?: number | number[]; x?: number; y?: number } | null;
    let text: string | null = null;
    if (pick?.kind === "point") text = `p${pick.index}`;
    else if (pick?.kind === "space") text = `x${Number(pick.x).toPrecision(6)},${Number(pick.y).toPrecision(6)}`;
    else if (pick?.kind === "region") text = `r${encodeIndices(pick.index as number[], m.labels.length)}`;
    update({ pick: text }, false);
    showMapActions(m, pick);
  } else if (view === "sliders") {
    const values = (report.values ?? {}) as Record<string, number>;
    const state = sliderState(m);
    const changes: Record<string, string | null> = {};
    for (const [key, amount] of Object.entries(values)) {
      const index = key[0] === "d" ? Number(key.slice(1)) : -1;
      const initial = index >= 0 && state ? state.base[index] : 0;
      changes[key] = Math.abs(amount - initial) < 1e-9 ? null : String(amount);
    }
    update(changes, false);
  } else {
    const values = (report.values ?? {}) as Record<string, number | string>;
    const changes: Record<string, string> = {};
    for (const [key, amount] of Object.entries(values)) changes[key] = String(amount);
    update(changes, false);
  }
}

// ---- start ---------------------------------------------------------------------------------------------------------

async function start(): Promise<void> {
  try {
    site = await fetchJson<SiteIndex>("site.json");
  } catch (error) {
    say(`This site cannot start: ${message(error)}.`, true);
    return;
  }
  if (site.format !== 1) {
    say(`This site was written in format ${site.format}, which this page cannot read: write it again with genviz site.`, true);
    return;
  }
  for (const entry of site.models) {
    const option = element("option", "", entry.name);
    option.value = entry.name;
    picker.append(option);
  }
  picker.addEventListener("change", () => go(route.view ?? "map", picker.value));
  for (const view of VIEWS) {
    const link = element("a", "", view.label);
    link.dataset.view = view.key;
    nav.append(link);
  }
  document.getElementById("made")!.textContent = `Made with ${site.generator} on ${site.made}.`;
  window.addEventListener("hashchange", () => {
    epoch += 1;
    void show();
  });
  await show();
}

// For tests and benchmarks: the model shown and its latents, as the views were given them.
Object.assign(window, {
  genvizSite: {
    shown: () => (shown ? { model: shown.model.info.name, view: shown.view } : null),
    latent: (spec: string) => (shown ? Array.from(v.latentOf(shown.model, spec) ?? []) : null),
  },
});

void start();
