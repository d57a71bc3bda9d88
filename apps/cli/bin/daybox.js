#!/usr/bin/env node
// The CLI ships as TypeScript run through tsx: no build step in the monorepo.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
