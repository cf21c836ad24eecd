export * from "./engine";
export * from "./upload";
