// The arguments each view takes (as the app's Python sends them: component/__init__.py), made in the browser from a
// site's files: the latents a seed or a map point gives, the sliders' specs (as ui/sliders.py makes them), the
// prior's noise and the interpolation's ends.
import type { RenderArgs } from "../host";
import type { Model } from "./files";
import { normals } from "./random";
import { decodeFloats } from "./route";

export const SIGMAS = [-3, -2, -1, 0, 1, 2, 3]; // the traversal row's steps, in spreads (ui/sliders.py's SIGMAS)
export const GRID_SIDES = [4, 6, 8, 10, 12];
export const CONTROLS = {
  temperature: { label: "Temperature (latent scale)", min: 0.1, max: 2.0, step: 0.1, value: 1.0 },
  truncation: { label: "Truncation threshold (sigmas)", min: 0.1, max: 3.0, step: 0.1, value: 1.0 },
};
export type ControlKind = keyof typeof CONTROLS;
export const PATHS = [
  { value: "slerp", label: "Spherical (slerp)" },
  { value: "linear", label: "Linear" },
];

function bytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

export function dimOf(model: Model): number {
  return model.info.latent_dim;
}

/** Point i's latent (D,). */
export function pointLatent(model: Model, i: number): Float32Array {
  const d = dimOf(model);
  return model.latents.slice(i * d, (i + 1) * d);
}

/** The latent's centre and spread, a conditional model's of class `label`. */
export function scaleOf(model: Model, label: number | null): [Float32Array, Float32Array] {
  const d = dimOf(model);
  if (label === null || !model.classCentre || !model.classSpread) return [model.centre, model.spread];
  return [model.classCentre.subarray(label * d, (label + 1) * d), model.classSpread.subarray(label * d, (label + 1) * d)];
}

/** The class a conditional model's seed draws (none for others). */
export function seedClass(model: Model, seed: number): number | null {
  return model.info.conditional ? seed % model.info.class_names.length : null;
}

/** n latents (n, D) of the prior for a seed: centre + eps * spread (GenerativeModel.prior_from_noise at 1). */
export function priorLatents(model: Model, seed: number, n: number, label: number | null): Float32Array {
  const d = dimOf(model);
  const [centre, spread] = scaleOf(model, label);
  const eps = normals(seed, n * d);
  return eps.map((e, i) => centre[i % d] + e * spread[i % d]);
}

/** An endpoint or start as an address names it: "s12" seed 12, "p34" map point 34, "z<base64url>" a latent. */
export function latentOf(model: Model, spec: string): Float32Array | null {
  const value = spec.slice(1);
  if (spec[0] === "z") return decodeFloats(value, dimOf(model));
  const k = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(k)) return null;
  if (spec[0] === "s") return priorLatents(model, k, 1, seedClass(model, k));
  if (spec[0] === "p") return k < model.labels.length ? pointLatent(model, k) : null;
  return null;
}

/** In words, for captions: "seed 12", "map point #34", "a latent from the address". */
export function describe(model: Model, spec: string): string {
  if (spec[0] === "s") return `seed ${spec.slice(1)}`;
  if (spec[0] === "p") {
    const i = Number(spec.slice(1));
    const label = model.labels[i];
    const name = label >= 0 ? (model.info.class_names[label] ?? `class ${label}`) : "unlabelled";
    return `map point #${i} (${name})`;
  }
  return "a latent from the address";
}

const classMeans = new WeakMap<Model, Map<number, Float32Array>>();

/** Each class's mean latent over the map's points (latent-space cartography: genviz.latent.class_direction). */
function meansOf(model: Model): Map<number, Float32Array> {
  let means = classMeans.get(model);
  if (means) return means;
  const d = dimOf(model);
  const sums = new Map<number, { sum: Float64Array; n: number }>();
  model.labels.forEach((label, i) => {
    if (label < 0) return;
    const entry = sums.get(label) ?? { sum: new Float64Array(d), n: 0 };
    for (let j = 0; j < d; j++) entry.sum[j] += model.latents[i * d + j];
    entry.n += 1;
    sums.set(label, entry);
  });
  means = new Map([...sums].map(([label, { sum, n }]) => [label, Float32Array.from(sum, (v) => v / n)]));
  classMeans.set(model, means);
  return means;
}

/** Classes with points on the map, in order: those a class direction can go between. */
export function knownClasses(model: Model): number[] {
  return [...meansOf(model).keys()].sort((a, b) => a - b);
}

/** Interpolate's endpoints by default: the first map points of two different classes where the map holds test
 * images (a strip between two classes says more than one between two pictures of the same), else seeds 0 and 1. */
export function defaultEnds(model: Model): [string, string] {
  const known = knownClasses(model);
  if (model.info.points !== "test" || known.length < 2) return ["s0", "s1"];
  const first = (label: number) => model.labels.indexOf(label);
  return [`p${first(known[0])}`, `p${first(known[1])}`];
}

export function mapArgs(model: Model, height: number, pick: unknown): RenderArgs {
  const thumbs = model.info.thumbnails;
  return {
    mode: "map",
    decoder: model.decoder,
    decoder_id: model.info.files["decoder.onnx"].sha256,
    data: model.map,
    data_id: model.info.files["map.safetensors"].sha256,
    class_names: model.info.class_names,
    image_shape: model.info.image_shape,
    height,
    tile_urls: thumbs ? thumbs.tiles.map((tile) => `${thumbs.folder}${tile}`) : [],
    tile_layout: thumbs?.layout ?? null,
    show_latent: true,
    warm_thumbnails: true, // fetched once the map is drawn, so that hovering works offline from then on
    decode_caption: model.info.points === "test" ? "Reconstruction" : "Decoded",
    pick,
  };
}

export interface SliderState {
  base: Float32Array; // (D,) the start latent
  controlsId: string;
  values: URLSearchParams; // control key -> value, where the address sets one
  traverse: number; // the dimension (or, with no dimension sliders, principal direction) the row moves
  from: number; // the class direction's classes
  to: number;
}

/** Whether the model gets a slider per dimension (ui/sliders.py's slider_dims). */
export function hasDimSliders(model: Model): boolean {
  return dimOf(model) <= model.info.max_sliders;
}

export function sliderArgs(model: Model, state: SliderState): RenderArgs {
  const { base, values } = state;
  const d = dimOf(model);
  const value = (key: string, fallback: number) => {
    const v = Number(values.get(key));
    return values.has(key) && Number.isFinite(v) ? v : fallback;
  };
  const { centre, spread } = model;
  const dims = hasDimSliders(model)
    ? Array.from(model.order, (i) => {
        const low = Math.min(centre[i] - 4 * spread[i], base[i]);
        const high = Math.max(centre[i] + 4 * spread[i], base[i]);
        return { key: `d${i}`, index: i, label: `z[${i}]`, min: low, max: high, step: (high - low) / 100, value: value(`d${i}`, base[i]) };
      })
    : [];
  const directions = Array.from(model.spreads, (s, k) => ({
    key: `pc${k}`, label: `Principal direction ${k + 1}`, spread: s, min: -3, max: 3, step: 0.1, value: value(`pc${k}`, 0),
  })); // prettier-ignore
  const known = knownClasses(model);
  let classSpec = null;
  let classVector = new Float32Array(0);
  if (known.length >= 2) {
    const means = meansOf(model);
    const [a, b] = [means.get(state.from) ?? means.get(known[0])!, means.get(state.to) ?? means.get(known[1])!];
    classVector = Float32Array.from(b, (v, j) => v - a[j]);
    classSpec = { key: "cls", label: "Along the class direction", min: -1, max: 2, step: 0.05, value: value("cls", 0) };
  }
  const k = state.traverse;
  const traversal = dims.length
    ? (() => {
        const row = SIGMAS.map((s) => centre[k] + s * spread[k]);
        return { index: k, values: row, caption: `z[${k}] from ${row[0].toFixed(2)} to ${row[6].toFixed(2)} (-3 to +3 sigma)` };
      })()
    : {
        direction: k,
        values: SIGMAS,
        caption: `Principal direction ${k + 1}: this latent moved -3 to +3 of its spread (${model.spreads[k].toFixed(2)})`,
      };
  return {
    mode: "sliders",
    decoder: model.decoder,
    decoder_id: model.info.files["decoder.onnx"].sha256,
    base: bytes(base),
    image_shape: model.info.image_shape,
    controls_id: state.controlsId,
    dims,
    directions,
    direction_vectors: bytes(model.directions),
    class_spec: classSpec,
    class_vector: bytes(classVector),
    class_id: `${state.from}-${state.to}`,
    traversal,
    show: true,
    size: 280,
  };
}

export function sampleArgs(
  model: Model,
  o: { seed: number; side: number; kind: ControlKind; value: number; label: number | null; controlsId: string },
): RenderArgs {
  const n = o.side * o.side;
  const [centre, spread] = scaleOf(model, o.label);
  const control = CONTROLS[o.kind];
  const of = o.label === null ? "" : ` of class ${model.info.class_names[o.label]}`;
  const what = o.kind === "temperature" ? "temperature {value}" : "truncated at {value} sigma";
  return {
    mode: "prior",
    decoder: model.decoder,
    decoder_id: model.info.files["decoder.onnx"].sha256,
    noise: bytes(normals(o.seed, n * dimOf(model))),
    centre: bytes(centre),
    spread: bytes(spread),
    image_shape: model.info.image_shape,
    controls_id: o.controlsId,
    control: { key: "value", kind: o.kind, ...control, value: o.value },
    columns: o.side,
    width: Math.min(640, 60 * o.side + 40),
    caption: `${n} samples${of} of ${model.info.kind.toUpperCase()} from ${model.info.prior_name}, seed ${o.seed}, ${what}`,
    show: true,
  };
}

export function pathArgs(
  model: Model,
  o: { a: Float32Array; b: Float32Array; method: string; steps: number; controlsId: string },
): RenderArgs {
  const ends = new Float32Array(2 * dimOf(model));
  ends.set(o.a, 0);
  ends.set(o.b, dimOf(model));
  return {
    mode: "path",
    decoder: model.decoder,
    decoder_id: model.info.files["decoder.onnx"].sha256,
    ends: bytes(ends),
    centre: bytes(model.centre),
    image_shape: model.info.image_shape,
    controls_id: o.controlsId,
    method: { label: "Path", options: PATHS, value: o.method },
    steps: { label: "Steps", min: 2, max: 32, step: 1, value: o.steps },
    width: 96,
    show: true,
  };
}
