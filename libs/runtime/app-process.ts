/**
 * The V8 heap limit the apps run with unless NODE_OPTIONS says otherwise. Without a limit, V8 lets garbage grow
 * towards a share of the machine's memory before it collects; with this one each app stays under 300 MB of RSS
 * (docs/BENCHMARKS.md, phase 7), far above what any of them keeps alive.
 */
export const APP_NODE_OPTIONS = '--max-old-space-size=256';

/** NODE_OPTIONS for an app process started with `env`. */
export const appNodeOptions = (env: NodeJS.ProcessEnv | Record<string, string>): string => env.NODE_OPTIONS ?? APP_NODE_OPTIONS;
