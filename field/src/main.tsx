import { render } from "preact";
import { createFieldApp, startFieldApp } from "./app";
import { registerServiceWorker } from "./pwa";
import { App } from "./ui/App";

const app = createFieldApp();
const pwa = registerServiceWorker();
render(<App app={app} pwa={pwa} />, document.getElementById("app")!);
startFieldApp(app);
