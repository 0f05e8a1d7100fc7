// The decoder runtime: an ONNX decoder (z (B, D) float32 -> images (B, C, H, W) in [0, 1]) run by
// onnxruntime-web's WASM backend, single-threaded (no SharedArrayBuffer, so no cross-origin isolation needed).
import * as ort from "onnxruntime-web/wasm";
import { load, save } from "./store";

const LOAD_TIMEOUT_MS = 60_000;

// The .wasm file is served beside the bundle by the app itself (no CDN), fetched once per browser and then read
// from its store (store.ts); the glue code is in the bundle.
const WASM = new URL("ort-wasm-simd-threaded.wasm", document.baseURI).href;
const WASM_NAME = `onnxruntime-web ${ort.env.versions.web} ort-wasm-simd-threaded.wasm`;
ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;

let runtime: Promise<void> | null = null;

/** The runtime's WASM binary, from the browser's store, else from the app (and then stored). */
function wasmBinary(): Promise<void> {
  runtime ??= (async () => {
    let binary = await load(WASM_NAME);
    if (!binary) {
      const response = await fetch(WASM);
      if (!response.ok) throw new Error(`the ONNX runtime's WASM file did not load (HTTP ${response.status})`);
      binary = new Uint8Array(await response.arrayBuffer());
      await save(WASM_NAME, binary);
    }
    ort.env.wasm.wasmBinary = binary;
  })().catch((error) => {
    runtime = null; // a later load tries again
    throw error;
  });
  return runtime;
}

/** The runtime's WASM binary as the host has it (the notebook widget: sent from the installed package), instead of
 * fetched beside the page: call before the first load. */
export function useWasmBinary(binary: Uint8Array): void {
  ort.env.wasm.wasmBinary = binary;
  runtime = Promise.resolve();
}

export interface Decoded {
  data: Float32Array;
  dims: readonly number[];
}

export class Decoder {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly input: string,
    private readonly output: string,
  ) {}

  /** Load an ONNX model's bytes; rejects (never hangs) when WebAssembly or the runtime is unavailable. */
  static async load(model: Uint8Array): Promise<Decoder> {
    if (typeof WebAssembly !== "object") throw new Error("WebAssembly is not available in this browser");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the ONNX runtime did not load in ${LOAD_TIMEOUT_MS / 1000} s`)), LOAD_TIMEOUT_MS);
    });
    try {
      const create = async () => {
        await wasmBinary();
        return ort.InferenceSession.create(model, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
      };
      const session = await Promise.race([create(), timeout]);
      return new Decoder(session, session.inputNames[0], session.outputNames[0]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Decode n latents of dimension d (row-major float32). */
  async decode(latents: Float32Array, n: number, d: number): Promise<Decoded> {
    const z = new ort.Tensor("float32", latents, [n, d]);
    const results = await this.session.run({ [this.input]: z });
    const out = results[this.output];
    z.dispose();
    const decoded = { data: out.data as Float32Array, dims: out.dims };
    return decoded;
  }
}
