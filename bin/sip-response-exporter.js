#!/usr/bin/env node
// Thin launcher so `npm install -g` and `npx` run the compiled CLI.
import { cliEntry } from '../dist/src/cli/main.js';

cliEntry();
