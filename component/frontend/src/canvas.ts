// Canvas drawing: (B, C, H, W) floats in [0, 1] (C = 1 grey or 3 RGB) as a grid of `columns` images, each
// pixel drawn as a `scale` x `scale` block with no smoothing.

function toImageData(data: Float32Array, b: number, c: number, h: number, w: number, columns: number): ImageData {
  const rows = Math.ceil(b / columns);
  const width = columns * w;
  const image = new ImageData(width, rows * h);
  const rgba = image.data;
  const plane = h * w;
  for (let i = 0; i < b; i++) {
    const x0 = (i % columns) * w;
    const y0 = Math.floor(i / columns) * h;
    const base = i * c * plane;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = y * w + x;
        const o = ((y0 + y) * width + x0 + x) * 4;
        for (let k = 0; k < 3; k++) {
          const v = data[base + (c === 1 ? 0 : k) * plane + p];
          rgba[o + k] = Math.round(Math.min(1, Math.max(0, v)) * 255);
        }
        rgba[o + 3] = 255;
      }
    }
  }
  return image;
}

/** Draw the images onto `canvas`, sized to the grid times `scale`. */
export function drawGrid(
  canvas: HTMLCanvasElement,
  data: Float32Array,
  dims: readonly number[],
  columns: number,
  scale: number,
): void {
  const [b, c, h, w] = dims;
  const image = toImageData(data, b, c, h, w, columns);
  const native = document.createElement("canvas");
  native.width = image.width;
  native.height = image.height;
  native.getContext("2d")!.putImageData(image, 0, 0);
  canvas.width = image.width * scale;
  canvas.height = image.height * scale;
  const context = canvas.getContext("2d")!;
  context.imageSmoothingEnabled = false;
  context.drawImage(native, 0, 0, canvas.width, canvas.height);
}

/** A canvas that assistive technology reads as a picture named `label`; `testId` for tests. */
export function picturedCanvas(label: string, testId: string): HTMLCanvasElement {
  const c = document.createElement("canvas");
  c.setAttribute("role", "img");
  c.setAttribute("aria-label", label);
  c.setAttribute("data-testid", testId);
  return c;
}
