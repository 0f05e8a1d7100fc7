// Pan and zoom for maps too big to redraw at the hand's pace (software WebGL draws some 2 million points a second
// here, so a million points take half a second a frame): the map's view is ours while the hand moves, and what
// is shown meanwhile is the last full draw, scaled and shifted on a 2-D canvas by the change of view since it.
// Also a uniform grid over the points, to find the hovered one without regl-scatterplot (whose hover redraws
// every point).
//
// A view is regl-scatterplot's camera without rotation: a point at NDC n (the map's [-1, 1] square) is drawn at
// GL position g = s n + t; GL x spans [-aspect, aspect] across the canvas, GL y [-1, 1] from bottom to top.

export interface View {
  s: number; // scale (zoom)
  tx: number; // translation, GL units
  ty: number;
}

/** The view of a camera's column-major 4 x 4 view matrix (dom-2d-camera's `camera.view`, no rotation). */
export function viewOf(matrix: ArrayLike<number>): View {
  return { s: matrix[0], tx: matrix[12], ty: matrix[13] };
}

/** The camera view matrix of `view`, for regl-scatterplot's `view()`. */
export function matrixOf(view: View): number[] {
  return [view.s, 0, 0, 0, 0, view.s, 0, 0, 0, 0, 1, 0, view.tx, view.ty, 0, 1];
}

/** GL position of canvas position (px, py) in CSS pixels on a w x h canvas. */
function gl(px: number, py: number, w: number, h: number): [number, number] {
  return [((2 * px) / w - 1) * (w / h), 1 - (2 * py) / h];
}

/** `view` zoomed by `factor` about canvas position (px, py): the data under the cursor stays under it. */
export function zoomAbout(view: View, px: number, py: number, factor: number, w: number, h: number): View {
  const [gx, gy] = gl(px, py, w, h);
  return { s: view.s * factor, tx: gx - factor * (gx - view.tx), ty: gy - factor * (gy - view.ty) };
}

/** `view` panned by (dx, dy) CSS pixels. */
export function panBy(view: View, dx: number, dy: number, w: number, h: number): View {
  return { s: view.s, tx: view.tx + (2 * dx) / h, ty: view.ty - (2 * dy) / h };
}

/** The canvas transform (CSS pixels) taking what `from` drew to where `to` draws it: p' = k p + (bx, by). */
export function screenChange(from: View, to: View, w: number, h: number): { k: number; bx: number; by: number } {
  const k = to.s / from.s;
  return {
    k,
    bx: (w / 2) * (1 - k) + ((to.tx - k * from.tx) * h) / 2,
    by: (h / 2) * (1 - k) - ((to.ty - k * from.ty) * h) / 2,
  };
}

export function sameView(a: View, b: View): boolean {
  return a.s === b.s && a.tx === b.tx && a.ty === b.ty;
}

/** Paint `snapshot` (a full draw made at view `from`) onto `target` as view `to` shows it; outside it `background`. */
export function paintMoved(
  target: HTMLCanvasElement,
  snapshot: HTMLCanvasElement,
  from: View,
  to: View,
  background: string,
): void {
  const context = target.getContext("2d")!;
  const dpr = target.width / Math.max(1, target.clientWidth);
  const { k, bx, by } = screenChange(from, to, target.clientWidth, target.clientHeight);
  context.setTransform(1, 0, 0, 1, 0, 0);
  context.fillStyle = background;
  context.fillRect(0, 0, target.width, target.height);
  context.imageSmoothingEnabled = k < 1;
  context.setTransform(k, 0, 0, k, bx * dpr, by * dpr);
  context.drawImage(snapshot, 0, 0);
  context.setTransform(1, 0, 0, 1, 0, 0);
}

/** Points (NDC) bucketed in a uniform grid over [-1, 1]^2: the nearest within a radius, in microseconds. */
export class PointGrid {
  private readonly cells: number;
  private readonly start: Int32Array; // cell c holds order[start[c] .. start[c + 1])
  private readonly order: Int32Array;

  constructor(
    private readonly xs: Float32Array,
    private readonly ys: Float32Array,
  ) {
    const n = xs.length;
    this.cells = Math.max(1, Math.min(1024, Math.ceil(Math.sqrt(n / 4))));
    const count = new Int32Array(this.cells * this.cells + 1);
    const cellOf = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      cellOf[i] = this.cell(xs[i], ys[i]);
      count[cellOf[i] + 1] += 1;
    }
    for (let c = 1; c < count.length; c++) count[c] += count[c - 1];
    this.start = count.slice();
    this.order = new Int32Array(n);
    const fill = count; // reused as each cell's next free slot
    for (let i = 0; i < n; i++) this.order[fill[cellOf[i]]++] = i;
  }

  private index(v: number): number {
    return Math.min(this.cells - 1, Math.max(0, Math.floor(((v + 1) / 2) * this.cells)));
  }

  private cell(x: number, y: number): number {
    return this.index(y) * this.cells + this.index(x);
  }

  /** The point nearest (x, y) closer than `radius` (NDC) for which `shown(i)`, else -1. */
  nearest(x: number, y: number, radius: number, shown: (i: number) => boolean): number {
    let best = -1;
    let bestDistance = radius * radius;
    const [c0, c1] = [this.index(x - radius), this.index(x + radius)];
    const [r0, r1] = [this.index(y - radius), this.index(y + radius)];
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) {
        const cell = r * this.cells + c;
        for (let k = this.start[cell]; k < this.start[cell + 1]; k++) {
          const i = this.order[k];
          const d = (this.xs[i] - x) ** 2 + (this.ys[i] - y) ** 2;
          if (d < bestDistance && shown(i)) {
            bestDistance = d;
            best = i;
          }
        }
      }
    }
    return best;
  }
}
