// A site's addresses: `#/<view>/<model>?<state>`, so that a link opens exactly that view in that state (a seed,
// slider values, a pick on the map, two endpoints). `#/` is the list of the site's models.

export type ViewKey = "map" | "sliders" | "sample" | "interpolate";
export const VIEWS: { key: ViewKey; label: string }[] = [
  { key: "map", label: "Latent map" },
  { key: "sliders", label: "Latent sliders" },
  { key: "sample", label: "Sample" },
  { key: "interpolate", label: "Interpolate" },
];

export interface Route {
  view: ViewKey | null; // null: the list of models
  model: string;
  params: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const text = hash.replace(/^#\/?/, "");
  const [path, query = ""] = text.split("?", 2);
  const [view = "", model = ""] = path.split("/").map((part) => decodeURIComponent(part));
  const known = VIEWS.some((v) => v.key === view);
  return { view: known ? (view as ViewKey) : null, model: known ? model : "", params: new URLSearchParams(query) };
}

export function formatRoute(view: ViewKey | null, model: string, params?: URLSearchParams | Record<string, string>): string {
  if (!view) return "#/";
  const query = new URLSearchParams(params ?? {}).toString();
  return `#/${view}/${encodeURIComponent(model)}${query ? `?${query}` : ""}`;
}

/** Float32 values as base64url (a latent in an address), and back; null for text that is not one. */
export function encodeFloats(values: Float32Array): string {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function decodeFloats(text: string, length: number): Float32Array | null {
  try {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    if (binary.length !== 4 * length) return null;
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const values = new Float32Array(bytes.buffer);
    return values.every(Number.isFinite) ? values : null;
  } catch {
    return null;
  }
}

/** A set of point indices (a box or lasso selection) as a base64url bitset of `n` bits, and back. */
export function encodeIndices(indices: number[], n: number): string {
  const bits = new Uint8Array(Math.ceil(n / 8));
  for (const i of indices) bits[i >> 3] |= 1 << (i & 7);
  let text = "";
  for (const b of bits) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function decodeIndices(text: string, n: number): number[] {
  try {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    const out: number[] = [];
    for (let i = 0; i < Math.min(n, binary.length * 8); i++) if (binary.charCodeAt(i >> 3) & (1 << (i & 7))) out.push(i);
    return out;
  } catch {
    return [];
  }
}
