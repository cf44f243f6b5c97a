// kiln-hoist-derived-state names its entry kiln.derive_state: a module that
// has one already (the pass ran before) is an error, not a second entry.
// RUN: not kiln-opt %s --kiln-hoist-derived-state 2>&1 | FileCheck %s

// CHECK: error: kiln-hoist-derived-state: the module already has a function named 'kiln.derive_state'
module {
  func.func @kiln.derive_state() {
    return
  }
}
