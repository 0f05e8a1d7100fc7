// The map's thumbnails: PNG tiles of `per_tile` images each, `columns` images a row, every image (C, H, W).
// Each tile is read (from the map data, or fetched from the site) and decoded once (createImageBitmap, no colour
// conversion) when a point of it is first shown; a thumbnail is its sub-rectangle drawn with whole pixels per
// pixel (no smoothing).

export interface TileLayout {
  per_tile: number;
  columns: number;
  shape: [number, number, number]; // C, H, W
}

export class Thumbnails {
  private readonly decoded = new Map<number, Promise<ImageBitmap>>();

  /** `count` tiles, tile t's PNG from `source(t)`. */
  constructor(
    private readonly count: number,
    private readonly source_: (t: number) => Promise<Blob>,
    readonly layout: TileLayout,
  ) {}

  /** Tiles held in memory (the map data's). */
  static of(tiles: Uint8Array[], layout: TileLayout): Thumbnails {
    return new Thumbnails(tiles.length, async (t) => new Blob([tiles[t] as Uint8Array<ArrayBuffer>], { type: "image/png" }), layout);
  }

  /** Tiles fetched from `urls` when first needed. */
  static fetched(urls: string[], layout: TileLayout): Thumbnails {
    return new Thumbnails(
      urls.length,
      async (t) => {
        const response = await fetch(urls[t]);
        if (!response.ok) throw new Error(`thumbnail tile ${urls[t]} did not load (HTTP ${response.status})`);
        return response.blob();
      },
      layout,
    );
  }

  /** Whether point `index` has a thumbnail. */
  has(index: number): boolean {
    return index >= 0 && Math.floor(index / this.layout.per_tile) < this.count;
  }

  private tile(t: number): Promise<ImageBitmap> {
    let bitmap = this.decoded.get(t);
    if (!bitmap) {
      bitmap = this.source_(t).then((blob) => createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" }));
      this.decoded.set(t, bitmap);
      bitmap.catch(() => this.decoded.delete(t)); // tried again on the next hover
    }
    return bitmap;
  }

  /** Read and decode every tile now (failures are left for a hover to retry): a site's map then shows its
   * thumbnails offline once it has loaded. */
  warm(): void {
    for (let t = 0; t < this.count; t++) this.tile(t).catch(() => {});
  }

  /** The tile and source rectangle of point `index`, once its tile is decoded. */
  async source(index: number): Promise<{ bitmap: ImageBitmap; x: number; y: number; w: number; h: number }> {
    const { per_tile: perTile, columns, shape } = this.layout;
    const [, h, w] = shape;
    const k = index % perTile;
    const bitmap = await this.tile(Math.floor(index / perTile));
    return { bitmap, x: (k % columns) * w, y: Math.floor(k / columns) * h, w, h };
  }

  /** Draw point `index` onto `canvas`, sized to the image times `scale`. */
  async draw(canvas: HTMLCanvasElement, index: number, scale: number): Promise<void> {
    const s = await this.source(index);
    canvas.width = s.w * scale;
    canvas.height = s.h * scale;
    const context = canvas.getContext("2d")!;
    context.imageSmoothingEnabled = false;
    context.drawImage(s.bitmap, s.x, s.y, s.w, s.h, 0, 0, canvas.width, canvas.height);
  }

  /** Draw up to `indices.length` thumbnails onto `canvas` as a grid of `columns`, each `scale` times. */
  async drawGrid(canvas: HTMLCanvasElement, indices: number[], columns: number, scale: number): Promise<void> {
    const [, h, w] = this.layout.shape;
    const sources = await Promise.all(indices.map((i) => this.source(i)));
    canvas.width = Math.min(columns, indices.length) * w * scale;
    canvas.height = Math.ceil(indices.length / columns) * h * scale;
    const context = canvas.getContext("2d")!;
    context.imageSmoothingEnabled = false;
    sources.forEach((s, k) => {
      const x = (k % columns) * w * scale;
      const y = Math.floor(k / columns) * h * scale;
      context.drawImage(s.bitmap, s.x, s.y, s.w, s.h, x, y, w * scale, h * scale);
    });
  }
}
