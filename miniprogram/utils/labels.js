// Labels typed as one line, "家务, 周末" or with the Chinese comma: trimmed, empty
// ones and repeats dropped, as many as taskhub keeps (10).
const MAX_LABELS = 10;

function parse(text) {
  const labels = [];
  for (const part of String(text || '').split(/[,，、]/)) {
    const label = part.trim();
    if (label && !labels.includes(label)) labels.push(label);
  }
  return labels.slice(0, MAX_LABELS);
}

function format(labels) {
  return (labels || []).join(', ');
}

module.exports = { parse, format };
