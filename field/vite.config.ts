// The field app's build: Preact, the service worker (Workbox injectManifest) and the web app
// manifest; everything lands in field/dist/, which the server serves at /field/.
import { fileURLToPath } from "node:url";
import preact from "@preact/preset-vite";
import { defineConfig } from "vite";
import { VitePWA } from "vite-plugin-pwa";

const root = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root,
  base: "/field/",
  publicDir: "public",
  build: { outDir: "dist", emptyOutDir: true, target: "es2020", sourcemap: false },
  plugins: [
    preact(),
    VitePWA({
      strategies: "injectManifest",
      srcDir: "src",
      filename: "sw.ts",
      // The app registers the worker itself (src/pwa.ts) so an update waits for the user.
      injectRegister: false,
      injectManifest: { rollupFormat: "iife", globPatterns: ["**/*.{js,css,html,png,svg,webmanifest}"] },
      manifest: {
        name: "低保复核 · 入户核查",
        short_name: "入户复核",
        description: "低保入户复核：离线采集，有网自动同步",
        lang: "zh-CN",
        start_url: "/field/",
        scope: "/field/",
        display: "standalone",
        orientation: "any",
        background_color: "#ffffff",
        theme_color: "#1d6b4f",
        icons: [
          { src: "icons/icon-192.png", sizes: "192x192", type: "image/png" },
          { src: "icons/icon-512.png", sizes: "512x512", type: "image/png" },
          { src: "icons/icon-maskable-512.png", sizes: "512x512", type: "image/png", purpose: "maskable" },
        ],
      },
    }),
  ],
});
