// What a site holds (genviz.site writes it): site.json, and per model its model.json, decoder.onnx,
// map.safetensors and latent.safetensors, with the thumbnail tiles shared by the models of a dataset. Every path is
// relative to the page, so a site works under any sub-path; nothing is fetched from another origin.
import { float32, readSafetensors, type Safetensors } from "../safetensors";
import type { TileLayout } from "../thumbs";

export interface SiteIndex {
  format: number;
  generator: string;
  made: string;
  models: { name: string; folder: string }[];
}

export interface ModelInfo {
  name: string;
  kind: string;
  display_name: string;
  dataset: string;
  class_names: string[];
  image_shape: [number, number, number];
  latent_dim: number;
  conditional: boolean;
  ignores_latent_length?: boolean; // decode(c z) == decode(z): no temperature offered (absent in older sites)
  exact_encoder: boolean;
  points: "test" | "prior";
  prior_name: string;
  directions_name: string;
  dimension_order_name: string;
  max_sliders: number;
  map: { method: string; n: number };
  thumbnails: { folder: string; tiles: string[]; layout: TileLayout } | null;
  card: { summary: string; facts: [string, string][] };
  files: Record<string, { sha256: string; bytes: number }>;
}

/** A model's files, fetched and read. */
export interface Model {
  info: ModelInfo;
  folder: string; // its folder's URL, relative to the page
  decoder: Uint8Array;
  map: Uint8Array; // map.safetensors, as the map view takes it
  latents: Float32Array; // (n, D) the map's points
  labels: Int16Array; // (n,)
  centre: Float32Array; // (D,) the latent's centre and spread (the prior's, or the codes')
  spread: Float32Array;
  classCentre: Float32Array | null; // (K, D) a conditional model's, per class
  classSpread: Float32Array | null;
  directions: Float32Array; // (k, D) principal directions, unit rows
  spreads: Float32Array; // (k,)
  order: Int32Array; // (D,) dimensions in display order
}

export type Progress = (what: string, loaded: number, total: number) => void;

/** Why the page cannot read its files: said in words a reader can act on. */
function unreachable(url: string, error: unknown): Error {
  if (location.protocol === "file:")
    return new Error(
      "this page was opened as a file: browsers do not let such a page read its data. Serve its folder, " +
        "for example with `python -m http.server -d FOLDER`, and open the address it prints",
    );
  return new Error(`${url} did not load (${error instanceof Error ? error.message : String(error)})`);
}

async function get(url: string): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw unreachable(url, error);
  }
  if (!response.ok) throw new Error(`${url} did not load (HTTP ${response.status})`);
  return response;
}

export async function fetchJson<T>(url: string): Promise<T> {
  const response = await get(url);
  try {
    return (await response.json()) as T;
  } catch {
    throw new Error(`${url} is not JSON: the site's files are damaged; write the site again with genviz site`);
  }
}

/** A file's bytes, reporting progress; its size must be what model.json records. */
export async function fetchBytes(url: string, size: number, progress?: (loaded: number) => void): Promise<Uint8Array> {
  const response = await get(url);
  const out = new Uint8Array(size);
  let loaded = 0;
  const reader = response.body?.getReader();
  if (!reader) {
    const all = new Uint8Array(await response.arrayBuffer());
    if (all.byteLength !== size) throw sizeError(url, all.byteLength, size);
    return all;
  }
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.byteLength > size) throw sizeError(url, loaded + value.byteLength, size);
    out.set(value, loaded);
    loaded += value.byteLength;
    progress?.(loaded);
  }
  if (loaded !== size) throw sizeError(url, loaded, size);
  return out;
}

function sizeError(url: string, got: number, expected: number): Error {
  return new Error(`${url} holds ${got} bytes, not the ${expected} its model.json records: write the site again`);
}

function tensor(file: Safetensors, name: string, where: string): Float32Array {
  const values = float32(file, name);
  if (!values) throw new Error(`${where} lacks ${name}`);
  return values;
}

/** A model's files: model.json, then its decoder, map and latent statistics together. */
export async function loadModel(folder: string, progress: Progress): Promise<Model> {
  const info = await fetchJson<ModelInfo>(`${folder}model.json`);
  const names = ["decoder.onnx", "map.safetensors", "latent.safetensors"];
  const total = names.reduce((sum, name) => sum + (info.files[name]?.bytes ?? 0), 0);
  const loaded = new Map<string, number>();
  const say = () => progress(info.name, [...loaded.values()].reduce((a, b) => a + b, 0), total);
  const [decoder, map, latent] = await Promise.all(
    names.map((name) => {
      const record = info.files[name];
      if (!record) throw new Error(`${folder}model.json lists no ${name}: write the site again`);
      return fetchBytes(`${folder}${name}`, record.bytes, (n) => {
        loaded.set(name, n);
        say();
      });
    }),
  );
  return readModel(info, folder, decoder, map, latent);
}

/** A model's files read, wherever their bytes came from (fetched by the site, sent by the notebook widget). */
export function readModel(info: ModelInfo, folder: string, decoder: Uint8Array, map: Uint8Array, latent: Uint8Array): Model {
  const points = readSafetensors(map);
  const where = `${folder}latent.safetensors`;
  const stats = readSafetensors(latent);
  const labelsTensor = points.tensors.get("labels");
  if (!labelsTensor || labelsTensor.dtype !== "I16") throw new Error(`${folder}map.safetensors lacks its labels`);
  const orderTensor = stats.tensors.get("dimension_order");
  if (!orderTensor || orderTensor.dtype !== "I32") throw new Error(`${where} lacks dimension_order (I32)`);
  return {
    info,
    folder,
    decoder,
    map,
    latents: tensor(points, "latents", `${folder}map.safetensors`),
    labels: new Int16Array(labelsTensor.bytes.buffer, 0, labelsTensor.bytes.byteLength >> 1),
    centre: tensor(stats, "centre", where),
    spread: tensor(stats, "spread", where),
    classCentre: float32(stats, "class_centre"),
    classSpread: float32(stats, "class_spread"),
    directions: tensor(stats, "directions", where),
    spreads: tensor(stats, "spreads", where),
    order: new Int32Array(orderTensor.bytes.buffer, 0, orderTensor.bytes.byteLength >> 2),
  };
}
