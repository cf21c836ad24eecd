import { render } from "preact";
import { createFieldApp, startFieldApp } from "./app";
import { registerServiceWorker } from "./pwa";
import * as store from "./store";
import { App } from "./ui/App";
import "./ui/app.css";

const app = createFieldApp();
const pwa = registerServiceWorker();
// The running app's database, engine and store functions, for browser tests and bench/field
// (they call exactly what the screens call).
Object.assign(globalThis, { recheckField: { ...app, store } });
render(<App app={app} pwa={pwa} />, document.getElementById("app")!);
startFieldApp(app);
