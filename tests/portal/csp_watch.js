// Injected by the browser tests before any page script: report every Content-Security-Policy
// violation (a blocked inline script, a request to another origin…) to the test.
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolation?.(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`);
});
