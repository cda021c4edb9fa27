// The window's view logic under Vitest: a DOM from jsdom, and api.ts replaced by a fake in each test
// that needs one, so no Tauri and no daemon are involved.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    environment: "jsdom",
    include: ["test/**/*.test.ts"],
  },
});
