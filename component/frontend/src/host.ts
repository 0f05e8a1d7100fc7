// The page a view lives in. The views (map.ts, live.ts, grids.ts) are written once; each host hands them their
// arguments (RenderArgs) and hears their values, their height and where their elements go, through this small
// interface: the Streamlit component (streamlit.ts) and the static site (site/) are thin adapters over it.
import { addStyle } from "./style";

export interface RenderArgs {
  [name: string]: unknown;
}

/** A view's module: "map" (map.ts), "sliders" (live.ts), "grids" (grids.ts: the Sample and Interpolate grids),
 * "pad" (draw.ts: a drawing pad), or "grid" (index.ts: a batch decoded and drawn once, for the Streamlit pages). */
export type ViewName = "map" | "sliders" | "grids" | "pad" | "grid";

export interface Host {
  /** A view's value: {ok, ...} after a draw or a change, {ok: false, error}, {alive}, or {need: id} for bytes. */
  report(view: ViewName, value: unknown): void;
  /** The content's height changed (CSS pixels). */
  resize(height: number): void;
  /** Place a view's root element, once, when the view is first drawn. */
  mount(view: ViewName, root: HTMLElement): void;
}

let host: Host | null = null;

export function useHost(next: Host): void {
  host = next;
}

function current(): Host {
  if (!host) throw new Error("no host: call useHost first");
  return host;
}

/** Tell the host a view's value (JSON, or a typed array). */
export function setValue(view: ViewName, value: unknown): void {
  current().report(view, value);
}

let lastHeight = -1;

/** The content's height in CSS pixels (the document's, by default). */
export function setHeight(height: number = document.body.scrollHeight): void {
  if (height === lastHeight) return;
  lastHeight = height;
  current().resize(height);
}

export function mount(view: ViewName, root: HTMLElement): void {
  addStyle();
  current().mount(view, root);
}

/** A bytes argument (little-endian float32) as floats, copied so that it is 4-byte aligned. */
export function floats(bytes: unknown): Float32Array {
  const raw = bytes instanceof Uint8Array ? bytes : new Uint8Array(0);
  return new Float32Array(raw.slice().buffer, 0, raw.byteLength >> 2);
}

/** The host as tall as `root` shows (0 when hidden or not there yet). */
export function fitTo(root: HTMLElement | null): void {
  setHeight(root && !root.hidden ? Math.ceil(root.getBoundingClientRect().height) + 8 : 0);
}

/** Hide `root` and tell the host that the browser cannot draw view `view` here, and why. */
export function failIn(view: ViewName, root: HTMLElement | null, reason: string): void {
  if (root) root.hidden = true;
  fitTo(root);
  setValue(view, { ok: false, error: reason });
}
