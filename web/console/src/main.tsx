import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
// React Flow's structural styles (the Programs builder's canvas; its JS is a lazy chunk).
import "@xyflow/react/dist/base.css";
import "./styles.css";

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
