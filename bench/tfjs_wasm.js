'use strict';
// Loads @tensorflow/tfjs on the wasm backend, without tfjs's console banner.
async function loadTfjsWasm() {
  const origWarn = console.warn;
  const origLog = console.log;
  console.warn = () => {};
  console.log = () => {};
  let tf;
  try {
    tf = require('@tensorflow/tfjs');
    require('@tensorflow/tfjs-backend-wasm');
    await tf.setBackend('wasm');
    await tf.ready();
  } finally {
    console.warn = origWarn;
    console.log = origLog;
  }
  return tf;
}

module.exports = { loadTfjsWasm };
