// Vite serves the window's UI on a fixed port in development (tauri.conf.json's devUrl) and builds it
// into ui/dist for release, where Tauri embeds it in the binary.
import { defineConfig } from "vite";

export default defineConfig({
  // Relative asset paths: the built page is served from Tauri's custom protocol, not a web root.
  base: "./",
  clearScreen: false,
  server: {
    port: 1420,
    strictPort: true,
    // The Rust side is rebuilt by the Tauri CLI; Vite must not reload on its changes.
    watch: { ignored: ["**/src-tauri/**", "**/target/**"] },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "safari15",
    sourcemap: false,
  },
});
