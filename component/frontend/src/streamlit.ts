// The Streamlit host: Streamlit's custom component protocol (components v1, API version 1). The iframe says it is
// ready, Streamlit posts "streamlit:render" with the arguments (bytes arguments arrive as Uint8Array), and the
// iframe posts back its value and height. Four messages; streamlit-component-lib would add React and apache-arrow
// to the bundle. One iframe holds one view, its root directly in the body.
import type { Host, RenderArgs } from "./host";

function send(type: string, data: Record<string, unknown>): void {
  window.parent.postMessage({ isStreamlitMessage: true, type, ...data }, "*");
}

export const streamlitHost: Host = {
  // The component's value in Python: JSON, or bytes for a typed array. Each new value reruns the script.
  report(_view, value) {
    if (ArrayBuffer.isView(value)) {
      send("streamlit:setComponentValue", {
        value: new Uint8Array(value.buffer, value.byteOffset, value.byteLength),
        dataType: "bytes",
      });
    } else {
      send("streamlit:setComponentValue", { value, dataType: "json" });
    }
  },
  resize(height) {
    send("streamlit:setFrameHeight", { height });
  },
  mount(_view, root) {
    document.getElementById("grid")?.remove(); // the grid mode's canvas: this iframe holds a live view instead
    document.body.append(root);
  },
};

/** Call `onRender` with the arguments of every render Streamlit sends, then tell Streamlit we are ready. */
export function listen(onRender: (args: RenderArgs) => void): void {
  window.addEventListener("message", (event: MessageEvent) => {
    if (event.data?.type === "streamlit:render") onRender((event.data.args ?? {}) as RenderArgs);
  });
  send("streamlit:componentReady", { apiVersion: 1 });
}
