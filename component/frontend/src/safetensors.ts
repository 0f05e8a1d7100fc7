// A safetensors file (https://github.com/huggingface/safetensors#format): an 8-byte little-endian header length,
// a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {key: string}}, then the raw
// little-endian data, offsets counted from the end of the header.

export interface Tensor {
  dtype: string; // "F32", "I16", "U8", ...
  shape: number[];
  bytes: Uint8Array; // a copy: its buffer starts at 0, so typed arrays of any element size fit
}

export interface Safetensors {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

export function readSafetensors(file: Uint8Array): Safetensors {
  if (file.byteLength < 8) throw new Error("the map data is not a safetensors file (shorter than 8 bytes)");
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const length = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (8 + length > file.byteLength) throw new Error("the map data is not a safetensors file (header runs past its end)");
  const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + length))) as Record<string, unknown>;
  const start = 8 + length;
  const tensors = new Map<string, Tensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (start + offsets[1] > file.byteLength) throw new Error(`tensor ${name} runs past the end of the map data`);
    tensors.set(name, { dtype, shape, bytes: file.slice(start + offsets[0], start + offsets[1]) });
  }
  return { tensors, metadata };
}

/** The tensor `name` as float32, checking its dtype; null when absent. */
export function float32(file: Safetensors, name: string): Float32Array | null {
  const t = file.tensors.get(name);
  if (!t) return null;
  if (t.dtype !== "F32") throw new Error(`${name} must be F32, not ${t.dtype}`);
  return new Float32Array(t.bytes.buffer, 0, t.bytes.byteLength >> 2);
}

/** The tensor `name` as int16, checking its dtype; null when absent. */
export function int16(file: Safetensors, name: string): Int16Array | null {
  const t = file.tensors.get(name);
  if (!t) return null;
  if (t.dtype !== "I16") throw new Error(`${name} must be I16, not ${t.dtype}`);
  return new Int16Array(t.bytes.buffer, 0, t.bytes.byteLength >> 1);
}

/** The tensor `name` as int32, checking its dtype; null when absent. */
export function int32(file: Safetensors, name: string): Int32Array | null {
  const t = file.tensors.get(name);
  if (!t) return null;
  if (t.dtype !== "I32") throw new Error(`${name} must be I32, not ${t.dtype}`);
  return new Int32Array(t.bytes.buffer, 0, t.bytes.byteLength >> 2);
}
