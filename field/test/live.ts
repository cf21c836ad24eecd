// Vitest global set-up: starts the real server (field/test/live_server.py, with the project's
// .venv) for the engine tests, and stops it at the end. Without .venv the engine tests skip.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";

export interface LiveInfo {
  base_url: string;
  password: string;
  visits: { visit_id: string; household_id: string }[];
  user_ids: Record<string, string>;
}

declare module "vitest" {
  export interface ProvidedContext {
    live: LiveInfo | null;
  }
}

const root = fileURLToPath(new URL("../..", import.meta.url));
const python = `${root}.venv/bin/python`;
let child: ChildProcess | null = null;

export default async function setup(project: TestProject): Promise<() => void> {
  if (!existsSync(python)) {
    if (process.env.CI === "true") throw new Error("engine tests need .venv under CI=true (make venv)");
    project.provide("live", null);
    return () => {};
  }
  const proc = spawn(python, ["field/test/live_server.py"], {
    cwd: root,
    env: { ...process.env, PYTHONPATH: root, RECHECK_ENV: "test", RECHECK_LOG_JSON: "0" },
    stdio: ["pipe", "pipe", "inherit"],
  });
  child = proc;
  const info = await new Promise<LiveInfo>((resolve, reject) => {
    let out = "";
    proc.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) resolve(JSON.parse(line) as LiveInfo);
    });
    proc.on("exit", (code) => reject(new Error(`live server exited (${code})`)));
  });
  project.provide("live", info);
  return () => {
    child?.stdin?.end();
    child?.kill();
  };
}
