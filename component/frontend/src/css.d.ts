// esbuild's "text" loader: a .css file imported as its text (build.mjs).
declare module "*.css" {
  const text: string;
  export default text;
}
