// Registers the service worker (scope /field/). A new version waits until the worker taps
// "update" (applyUpdate), so a page never runs half old, half new code; the data in IndexedDB is
// not the service worker's and survives every update.
export interface Pwa {
  /** Called when a new version is installed and waiting. */
  onUpdateReady(listener: () => void): void;
  /** Activate the waiting version and reload. */
  applyUpdate(): void;
}

export function registerServiceWorker(): Pwa {
  const listeners: Array<() => void> = [];
  let waiting: ServiceWorker | null = null;
  const ready = () => listeners.forEach((l) => l());
  const container = globalThis.navigator?.serviceWorker;
  if (container) {
    void container.register(`${import.meta.env.BASE_URL}sw.js`, { scope: import.meta.env.BASE_URL }).then((reg) => {
      const watch = (worker: ServiceWorker | null) => {
        worker?.addEventListener("statechange", () => {
          if (worker.state === "installed" && container.controller) {
            waiting = worker;
            ready();
          }
        });
      };
      if (reg.waiting && container.controller) {
        waiting = reg.waiting;
        ready();
      }
      reg.addEventListener("updatefound", () => watch(reg.installing));
    });
    let reloading = false;
    container.addEventListener("controllerchange", () => {
      if (!reloading && waiting) {
        reloading = true;
        location.reload();
      }
    });
  }
  return {
    onUpdateReady: (listener) => {
      listeners.push(listener);
      if (waiting) listener();
    },
    applyUpdate: () => waiting?.postMessage({ type: "SKIP_WAITING" }),
  };
}
