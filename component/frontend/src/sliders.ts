// Live latent sliders: real <input type="range"> controls that recompose the latent in the browser on every
// input event, exactly as genviz.latent.edit_latent does (dimensions set, then spreads along each principal
// direction, then an amount of the class direction), decode it, and draw it. Python hears of the values on
// `change` (the hand lets go, or a key press), never while dragging.

export interface ControlSpec {
  key: string; // the control's name in Python (its widget key on the server path)
  label: string;
  min: number;
  max: number;
  step: number;
  value: number;
}

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

let serial = 0;

function decimals(step: number): number {
  const text = String(step);
  return text.includes(".") ? text.length - text.indexOf(".") - 1 : 0;
}

/** One labelled range control in `parent`; `onInput` on every input event, `onChange` on each change event. */
function control(
  parent: HTMLElement,
  spec: ControlSpec,
  onInput: (key: string, value: number) => void,
  onChange: () => void,
): HTMLInputElement {
  const row = document.createElement("div");
  row.className = "control";
  const id = `control-${serial++}`;
  const label = document.createElement("label");
  label.htmlFor = id;
  label.textContent = spec.label;
  const output = document.createElement("output");
  output.htmlFor.add(id);
  const input = document.createElement("input");
  input.type = "range";
  input.id = id;
  input.name = spec.key;
  input.min = String(spec.min);
  input.max = String(spec.max);
  input.step = String(spec.step);
  input.value = String(spec.value);
  const places = Math.min(4, Math.max(2, decimals(spec.step)));
  const show = () => (output.textContent = Number(input.value).toFixed(places));
  show();
  input.addEventListener("input", () => {
    show();
    onInput(spec.key, Number(input.value));
  });
  input.addEventListener("change", onChange);
  const head = document.createElement("div");
  head.className = "head";
  head.append(label, output);
  row.append(head, input);
  parent.append(row);
  return input;
}

export interface Controls {
  values: Map<string, number>;
}

/** Draw every control into `root` (emptied first); returns the live map of values by key. */
export function buildControls(
  root: HTMLElement,
  specs: SliderSpecs,
  onInput: () => void,
  onChange: () => void,
): Controls {
  root.replaceChildren();
  const values = new Map<string, number>();
  const all: ControlSpec[] = [...specs.dims, ...specs.directions, ...(specs.classSpec ? [specs.classSpec] : [])];
  for (const spec of all) values.set(spec.key, spec.value);
  const set = (key: string, value: number) => {
    values.set(key, value);
    onInput();
  };
  const group = (title: string, items: ControlSpec[], cls: string) => {
    if (!items.length) return;
    const section = document.createElement("fieldset");
    section.className = cls;
    const legend = document.createElement("legend");
    legend.textContent = title;
    section.append(legend);
    for (const spec of items) control(section, spec, set, onChange);
    root.append(section);
  };
  group("Dimensions", specs.dims, "dims");
  group("Directions", [...specs.directions, ...(specs.classSpec ? [specs.classSpec] : [])], "directions");
  return { values };
}
