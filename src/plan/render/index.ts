export { renderText } from './text';
export { renderMarkdown, MARKDOWN_LIMIT } from './markdown';
export { renderJson, parsePlanJson } from './json';
