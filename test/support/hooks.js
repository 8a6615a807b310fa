'use strict';
// Root hooks for every mocha run: join the job before the first test and
// leave it after the last, so a suite also proves a clean shutdown.
const hvd = require('../..');

exports.mochaHooks = {
  beforeAll() {
    hvd.init();
  },
  afterAll() {
    hvd.shutdown();
  },
};
