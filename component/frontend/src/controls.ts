// Real form controls, labelled for assistive technology as Streamlit's own are: a range input (role slider,
// named by its <label for>) with its value shown in an <output>, and a group of radio buttons in a <fieldset>
// named by its <legend>. `onInput` runs on every input event (each step of a drag or a key press) with the
// event's timestamp; `onChange` on each change event (the hand lets go, or a key press).

export interface ControlSpec {
  key: string; // the control's name in Python (its widget key on the server path)
  label: string;
  min: number;
  max: number;
  step: number;
  value: number;
}

export interface ChoiceSpec {
  key: string;
  label: string;
  options: { value: string; label: string }[];
  value: string;
}

let serial = 0;

function decimals(step: number): number {
  const text = String(step);
  return text.includes(".") ? text.length - text.indexOf(".") - 1 : 0;
}

/** One labelled range control in `parent`. */
export function rangeControl(
  parent: HTMLElement,
  spec: ControlSpec,
  onInput: (key: string, value: number, since: number) => void,
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
  const places = Math.min(4, Math.max(Number.isInteger(spec.step) ? 0 : 2, decimals(spec.step)));
  const show = () => (output.textContent = Number(input.value).toFixed(places));
  show();
  input.addEventListener("input", (event) => {
    show();
    onInput(spec.key, Number(input.value), event.timeStamp);
  });
  input.addEventListener("change", onChange);
  const head = document.createElement("div");
  head.className = "head";
  head.append(label, output);
  row.append(head, input);
  parent.append(row);
  return input;
}

/** A labelled group of radio buttons in `parent`, one per option, `spec.value` checked. */
export function choiceControl(
  parent: HTMLElement,
  spec: ChoiceSpec,
  onInput: (key: string, value: string, since: number) => void,
  onChange: () => void,
): HTMLFieldSetElement {
  const group = document.createElement("fieldset");
  group.className = "choice";
  const legend = document.createElement("legend");
  legend.textContent = spec.label;
  group.append(legend);
  const name = `choice-${serial++}`;
  for (const option of spec.options) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = name;
    input.value = option.value;
    input.checked = option.value === spec.value;
    input.addEventListener("input", (event) => onInput(spec.key, option.value, event.timeStamp));
    input.addEventListener("change", onChange);
    label.append(input, ` ${option.label}`);
    group.append(label);
  }
  parent.append(group);
  return group;
}
