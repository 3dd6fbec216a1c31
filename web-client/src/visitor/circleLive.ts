// What a circle invitation's page loads once the code is typed (main.tsx).

export { VisitorCircle } from "./circle";
export { openSocket } from "./live";
