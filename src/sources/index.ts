// Every input registers itself here by import (node_exporter's collector pattern).
// Each module calls registerSource() at load time.
import './hep/index.js';
import './syslog/index.js';
import './tail/index.js';
export { registeredSources } from './registry.js';
