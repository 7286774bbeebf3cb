// The templates browser lists a pack's workflows in the order the server reads its folder (directory order on
// Linux, an unordered set in some ComfyUI versions). This pack's titles are numbered ("Wav2Lip 1. ...", main
// workflow first): put them in that order.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const PREFIX = "Wav2Lip ";
const listTemplates = api.getWorkflowTemplates.bind(api);

api.getWorkflowTemplates = async () => {
  const templates = await listTemplates();
  for (const names of Object.values(templates ?? {})) {
    if (Array.isArray(names) && names.length > 0 && names.every((name) => name.startsWith(PREFIX))) {
      names.sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    }
  }
  return templates;
};

app.registerExtension({ name: "ComfyUI-Wav2Lip.TemplateOrder" });
