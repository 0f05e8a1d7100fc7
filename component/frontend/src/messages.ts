// Streamlit's custom component protocol (components v1, API version 1): the iframe says it is ready, Streamlit
// posts "streamlit:render" with the arguments (bytes arguments arrive as Uint8Array), and the iframe posts back
// its value and height. Four messages; streamlit-component-lib would add React and apache-arrow to the bundle.

export interface RenderArgs {
  [name: string]: unknown;
}

type Listener = (args: RenderArgs) => void;

function send(type: string, data: Record<string, unknown>): void {
  window.parent.postMessage({ isStreamlitMessage: true, type, ...data }, "*");
}

/** Call `onRender` with the arguments of every render Streamlit sends, then tell Streamlit we are ready. */
export function listen(onRender: Listener): void {
  window.addEventListener("message", (event: MessageEvent) => {
    if (event.data?.type === "streamlit:render") onRender((event.data.args ?? {}) as RenderArgs);
  });
  send("streamlit:componentReady", { apiVersion: 1 });
}

/** The component's value in Python: JSON, or bytes for a typed array. Each new value reruns the script. */
export function setValue(value: unknown): void {
  if (ArrayBuffer.isView(value)) {
    send("streamlit:setComponentValue", {
      value: new Uint8Array(value.buffer, value.byteOffset, value.byteLength),
      dataType: "bytes",
    });
  } else {
    send("streamlit:setComponentValue", { value, dataType: "json" });
  }
}

let lastHeight = -1;

/** The iframe's height in CSS pixels (its content's, by default). */
export function setHeight(height: number = document.body.scrollHeight): void {
  if (height === lastHeight) return;
  lastHeight = height;
  send("streamlit:setFrameHeight", { height });
}

/** A bytes argument (little-endian float32) as floats, copied so that it is 4-byte aligned. */
export function floats(bytes: unknown): Float32Array {
  const raw = bytes instanceof Uint8Array ? bytes : new Uint8Array(0);
  return new Float32Array(raw.slice().buffer, 0, raw.byteLength >> 2);
}

/** The iframe as tall as `root` shows (0 when hidden or not there yet). */
export function fitTo(root: HTMLElement | null): void {
  setHeight(root && !root.hidden ? Math.ceil(root.getBoundingClientRect().height) + 8 : 0);
}

/** Hide `root` and tell Python that the browser cannot decode here, and why. */
export function failIn(root: HTMLElement | null, reason: string): void {
  if (root) root.hidden = true;
  fitTo(root);
  setValue({ ok: false, error: reason });
}
