// The "pad" mode: a drawing pad (mouse, pen or finger: pointer events) on which a person draws an input, dark ink
// on light paper, as on paper. Each finished stroke (and Clear) reports the picture to the host as PNG bytes, which
// the app prepares as it prepares an upload (genviz.images.upload_to_input: the ink found, inverted for models
// that saw light strokes on black, fitted like the training images). Clear reports an empty value.
import { fitTo, mount, setValue, type RenderArgs } from "./host";

const PAPER = "#ffffff";
const INK = "#000000";

let root: HTMLElement | null = null;
let canvas: HTMLCanvasElement;
let context: CanvasRenderingContext2D;
let brush: HTMLInputElement;
let strokes = 0;
let drawing: { x: number; y: number } | null = null;
let padId = "";

function layout(size: number): void {
  if (root) return;
  root = document.createElement("div");
  root.className = "pad";
  canvas = document.createElement("canvas");
  canvas.width = canvas.height = size;
  canvas.style.width = canvas.style.height = `${size}px`;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "Drawing pad: draw with the mouse, a pen or a finger");
  canvas.dataset.testid = "draw-pad";
  canvas.dataset.strokes = "0";
  context = canvas.getContext("2d")!;
  const tools = document.createElement("div");
  tools.className = "pad-tools";
  const clear = document.createElement("button");
  clear.type = "button";
  clear.textContent = "Clear";
  clear.addEventListener("click", () => {
    blank();
    setValue("pad", { cleared: true, id: padId });
  });
  const label = document.createElement("label");
  brush = document.createElement("input");
  brush.type = "range";
  brush.min = "4";
  brush.max = "40";
  brush.step = "1";
  brush.value = String(Math.round(size / 14)); // a pen about as wide, for the pad, as MNIST's strokes are
  label.append("Pen ", brush);
  tools.append(clear, label);
  root.append(canvas, tools);
  mount("pad", root);
  blank();
  canvas.addEventListener("pointerdown", start);
  canvas.addEventListener("pointermove", move);
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
}

function blank(): void {
  context.fillStyle = PAPER;
  context.fillRect(0, 0, canvas.width, canvas.height);
  strokes = 0;
  canvas.dataset.strokes = "0";
}

function at(event: PointerEvent): { x: number; y: number } {
  const rect = canvas.getBoundingClientRect();
  return { x: ((event.clientX - rect.left) * canvas.width) / rect.width, y: ((event.clientY - rect.top) * canvas.height) / rect.height };
}

function dot(p: { x: number; y: number }): void {
  context.fillStyle = INK;
  context.beginPath();
  context.arc(p.x, p.y, Number(brush.value) / 2, 0, 2 * Math.PI);
  context.fill();
}

function start(event: PointerEvent): void {
  if (event.button !== 0) return;
  canvas.setPointerCapture(event.pointerId);
  drawing = at(event);
  dot(drawing);
}

function move(event: PointerEvent): void {
  if (!drawing) return;
  const p = at(event);
  context.strokeStyle = INK;
  context.lineWidth = Number(brush.value);
  context.lineCap = "round";
  context.beginPath();
  context.moveTo(drawing.x, drawing.y);
  context.lineTo(p.x, p.y);
  context.stroke();
  drawing = p;
}

function end(): void {
  if (!drawing) return;
  drawing = null;
  strokes += 1;
  canvas.dataset.strokes = String(strokes);
  canvas.toBlob(async (blob) => {
    if (blob) setValue("pad", new Uint8Array(await blob.arrayBuffer()));
  }, "image/png");
}

export function renderPad(args: RenderArgs): void {
  layout(Number(args.size ?? 280));
  const id = String(args.pad_id ?? "");
  if (id !== padId) {
    if (padId) blank(); // a new pad (another page or picture): a clean sheet
    padId = id;
  }
  fitTo(root);
}
