// Live latent sliders: real <input type="range"> controls that recompose the latent in the browser on every
// input event, exactly as genviz.latent.edit_latent does (dimensions set, then spreads along each principal
// direction, then an amount of the class direction), decode it, and draw it. Python hears of the values on
// `change` (the hand lets go, or a key press), never while dragging.
import { rangeControl, type ControlSpec } from "./controls";

export type { ControlSpec };

export interface DimSpec extends ControlSpec {
  index: number; // the latent dimension it sets
}

export interface DirectionSpec extends ControlSpec {
  spread: number; // one unit of the control moves this far along the (unit) direction
}

export interface SliderSpecs {
  base: Float32Array; // (D,)
  dims: DimSpec[];
  directions: DirectionSpec[];
  directionVectors: Float32Array; // (K, D), row k for directions[k]
  classSpec: ControlSpec | null;
  classVector: Float32Array | null; // (D,)
}

/** z as the controls set it: base, dimensions set, + sum amount_k * spread_k * pc_k, + amount * class vector. */
export function compose(specs: SliderSpecs, values: Map<string, number>): Float32Array {
  const d = specs.base.length;
  const z = Float32Array.from(specs.base);
  for (const dim of specs.dims) z[dim.index] = values.get(dim.key) ?? dim.value;
  specs.directions.forEach((dir, k) => {
    const amount = values.get(dir.key) ?? dir.value;
    if (!amount) return;
    const scale = Math.fround(amount * dir.spread);
    for (let i = 0; i < d; i++) z[i] += scale * specs.directionVectors[k * d + i];
  });
  if (specs.classSpec && specs.classVector) {
    const along = values.get(specs.classSpec.key) ?? specs.classSpec.value;
    if (along) for (let i = 0; i < d; i++) z[i] += along * specs.classVector[i];
  }
  return z;
}

/** z as text, as genviz.latent.format_latent writes it. */
export function formatLatent(z: Float32Array): string {
  return "[" + Array.from(z, (v) => v.toFixed(4)).join(", ") + "]";
}

export interface Controls {
  values: Map<string, number>;
}

/** Draw every control into `root` (emptied first); returns the live map of values by key. */
export function buildControls(
  root: HTMLElement,
  specs: SliderSpecs,
  onInput: (since: number) => void,
  onChange: () => void,
): Controls {
  root.replaceChildren();
  const values = new Map<string, number>();
  const all: ControlSpec[] = [...specs.dims, ...specs.directions, ...(specs.classSpec ? [specs.classSpec] : [])];
  for (const spec of all) values.set(spec.key, spec.value);
  const set = (key: string, value: number, since: number) => {
    values.set(key, value);
    onInput(since);
  };
  const group = (title: string, items: ControlSpec[], cls: string) => {
    if (!items.length) return;
    const section = document.createElement("fieldset");
    section.className = cls;
    const legend = document.createElement("legend");
    legend.textContent = title;
    section.append(legend);
    for (const spec of items) rangeControl(section, spec, set, onChange);
    root.append(section);
  };
  group("Dimensions", specs.dims, "dims");
  group("Directions", [...specs.directions, ...(specs.classSpec ? [specs.classSpec] : [])], "directions");
  return { values };
}
