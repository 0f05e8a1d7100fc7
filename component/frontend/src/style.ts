// The views' stylesheet (views.css, bundled as text), added to the page once by whichever view is drawn first.
import css from "./views.css";

let added = false;

export function addStyle(): void {
  if (added) return;
  added = true;
  const style = document.createElement("style");
  style.textContent = css;
  document.head.append(style);
}
