// Copies the console's browser libraries from node_modules into static/vendor/, which the app
// serves itself: a county intranet has no internet, so nothing may load from a CDN.
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, "..", "..", "node_modules");
const vendor = join(here, "static", "vendor");

// [package file, name under static/vendor]
const files = [
  ["htmx.org/dist/htmx.min.js", "htmx.min.js"],
  // Alpine's standalone build (it starts itself when loaded; the file name is the package's).
  ["alpinejs/dist/cdn.min.js", "alpine.min.js"],
  ["leaflet/dist/leaflet.js", "leaflet/leaflet.js"],
  ["leaflet/dist/leaflet.css", "leaflet/leaflet.css"],
  ["leaflet/dist/images", "leaflet/images"],
  ["leaflet.markercluster/dist/leaflet.markercluster.js", "leaflet/leaflet.markercluster.js"],
  ["leaflet.markercluster/dist/MarkerCluster.css", "leaflet/MarkerCluster.css"],
  ["leaflet.markercluster/dist/MarkerCluster.Default.css", "leaflet/MarkerCluster.Default.css"],
];

rmSync(vendor, { recursive: true, force: true });
for (const [source, target] of files) {
  mkdirSync(dirname(join(vendor, target)), { recursive: true });
  cpSync(join(modules, source), join(vendor, target), { recursive: true });
}
console.log(`console: ${files.length} vendor files in ${vendor}`);
