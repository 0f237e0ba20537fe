// The one DOM lookup every module uses.
export const $ = (selector, root = document) => root.querySelector(selector);
