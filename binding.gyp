{
  # node-gyp build of the same addon CMakeLists.txt builds (native/*.cc,
  # native/ops/*.cc, binding/*.cc -> build/Release/hvd.node). Checked by
  # `npm run test:gyp` (scripts/gyp-smoke.sh). The source lists are computed at
  # gyp time so new .cc files are picked up exactly as CMake's GLOBs do.
  # MPI flags come from the compiler wrapper: Open MPI's --showme, with an
  # MPICH (-show / -link_info) fallback.
  "targets": [
    {
      "target_name": "hvd",
      "sources": [
        "<!@(node -p \"require('fs').readdirSync('native').filter(f => f.endsWith('.cc')).sort().map(f => 'native/' + f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/ops').filter(f => f.endsWith('.cc')).sort().map(f => 'native/ops/' + f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('binding').filter(f => f.endsWith('.cc')).sort().map(f => 'binding/' + f).join(' ')\")"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native",
        "<!@(mpicc --showme:incdirs 2>/dev/null || mpicc -show | tr ' ' '\\n' | sed -n 's/^-I//p')"
      ],
      "defines": [
        "OMPI_SKIP_MPICXX",
        "MPICH_SKIP_MPICXX",
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags": ["-Wall", "-Wno-unused-parameter", "-fvisibility=hidden", "-pthread"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti"],
      "ldflags": [
        "-pthread",
        "<!@((mpicc --showme:link 2>/dev/null || mpicc -link_info | cut -d' ' -f2-) | tr ' ' '\\n' | grep -v -e '^-l' -e '^-I' ; true)",
        "<!@(for d in $(mpicc --showme:libdirs 2>/dev/null); do echo -Wl,-rpath,$d; done)"
      ],
      "libraries": [
        "<!@((mpicc --showme:link 2>/dev/null || mpicc -link_info | cut -d' ' -f2-) | tr ' ' '\\n' | grep '^-l' ; true)"
      ],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "GCC_ENABLE_CPP_RTTI": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "MACOSX_DEPLOYMENT_TARGET": "11.0",
        "OTHER_CPLUSPLUSFLAGS": ["<!@(mpicc --showme:compile 2>/dev/null ; true)"],
        "OTHER_LDFLAGS": ["<!@(mpicc --showme:link 2>/dev/null ; true)"]
      }
    },
    {
      # The process that writes HOROVOD_TIMELINE's trace (native/timeline_writer.h),
      # built next to hvd.node, where the engine looks for it.
      "target_name": "hvd-timeline",
      "type": "executable",
      "sources": ["native/tools/timeline_writer_main.cc", "native/timeline_writer.cc"],
      "include_dirs": ["native"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions"],
      "cflags": ["-Wall", "-Wno-unused-parameter"],
      "libraries": ["-ldl"],
      "xcode_settings": { "CLANG_CXX_LANGUAGE_STANDARD": "c++17", "MACOSX_DEPLOYMENT_TARGET": "11.0" }
    }
  ]
}
