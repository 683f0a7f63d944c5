package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// ProblemType is the stable "type" URI of an error response
// (application/problem+json, RFC 9457). Clients switch on it; its meaning
// never changes. docs/api.md lists every type.
type ProblemType string

// ProblemTypePrefix is the common prefix of every ProblemType.
const ProblemTypePrefix = "urn:modelreg:problem:"

// The problem types the server returns, with their HTTP status.
const (
	ProblemMalformedJSON      ProblemType = ProblemTypePrefix + "malformed-json"         // 400
	ProblemInvalidDefinition  ProblemType = ProblemTypePrefix + "invalid-definition"     // 400
	ProblemInvalidTenantID    ProblemType = ProblemTypePrefix + "invalid-tenant-id"      // 400
	ProblemInvalidModelName   ProblemType = ProblemTypePrefix + "invalid-model-name"     // 400
	ProblemNameMismatch       ProblemType = ProblemTypePrefix + "name-mismatch"          // 400
	ProblemInvalidRequest     ProblemType = ProblemTypePrefix + "invalid-request"        // 400
	ProblemUnauthorized       ProblemType = ProblemTypePrefix + "unauthorized"           // 401
	ProblemForbidden          ProblemType = ProblemTypePrefix + "forbidden"              // 403
	ProblemTenantNotFound     ProblemType = ProblemTypePrefix + "tenant-not-found"       // 404
	ProblemModelNotFound      ProblemType = ProblemTypePrefix + "model-not-found"        // 404
	ProblemTokenNotFound      ProblemType = ProblemTypePrefix + "token-not-found"        // 404
	ProblemNoMatch            ProblemType = ProblemTypePrefix + "no-match"               // 404
	ProblemNotFound           ProblemType = ProblemTypePrefix + "not-found"              // 404
	ProblemMethodNotAllowed   ProblemType = ProblemTypePrefix + "method-not-allowed"     // 405
	ProblemQuotaExceeded      ProblemType = ProblemTypePrefix + "quota-exceeded"         // 409
	ProblemUnresolvedRef      ProblemType = ProblemTypePrefix + "unresolved-reference"   // 409
	ProblemPreconditionFailed ProblemType = ProblemTypePrefix + "precondition-failed"    // 412
	ProblemTooLarge           ProblemType = ProblemTypePrefix + "payload-too-large"      // 413
	ProblemUnsupportedMedia   ProblemType = ProblemTypePrefix + "unsupported-media-type" // 415
	ProblemValidationFailed   ProblemType = ProblemTypePrefix + "validation-failed"      // 422
	ProblemTooManyRequests    ProblemType = ProblemTypePrefix + "too-many-requests"      // 429
	ProblemInternal           ProblemType = ProblemTypePrefix + "internal"               // 500
	ProblemOverloaded         ProblemType = ProblemTypePrefix + "overloaded"             // 503
	ProblemUnavailable        ProblemType = ProblemTypePrefix + "unavailable"            // 503
)

// ProblemInfo describes one problem type: its HTTP status and fixed title.
type ProblemInfo struct {
	Type   ProblemType
	Status int
	Title  string
}

// ProblemTypes returns every problem type the server can return, with its
// status and title.
func ProblemTypes() []ProblemInfo {
	return []ProblemInfo{
		{ProblemMalformedJSON, 400, "Malformed JSON"},
		{ProblemInvalidDefinition, 400, "Invalid model definition"},
		{ProblemInvalidTenantID, 400, "Invalid tenant id"},
		{ProblemInvalidModelName, 400, "Invalid model name"},
		{ProblemNameMismatch, 400, "Model name does not match the URL"},
		{ProblemInvalidRequest, 400, "Invalid request"},
		{ProblemUnauthorized, 401, "Missing or invalid token"},
		{ProblemForbidden, 403, "Operation not allowed for this token"},
		{ProblemTenantNotFound, 404, "Tenant not found"},
		{ProblemModelNotFound, 404, "Model not found"},
		{ProblemTokenNotFound, 404, "Token not found"},
		{ProblemNoMatch, 404, "No model has this structure"},
		{ProblemNotFound, 404, "Not found"},
		{ProblemMethodNotAllowed, 405, "Method not allowed"},
		{ProblemQuotaExceeded, 409, "Tenant quota exceeded"},
		{ProblemUnresolvedRef, 409, "A referenced model does not exist"},
		{ProblemPreconditionFailed, 412, "Precondition failed"},
		{ProblemTooLarge, 413, "Request body too large"},
		{ProblemUnsupportedMedia, 415, "Unsupported media type"},
		{ProblemValidationFailed, 422, "Document is invalid"},
		{ProblemTooManyRequests, 429, "Too many requests of this tenant"},
		{ProblemInternal, 500, "Internal server error"},
		{ProblemOverloaded, 503, "Server overloaded"},
		{ProblemUnavailable, 503, "Service unavailable"},
	}
}

// problemInfo returns the status and title of a problem type.
func problemInfo(t ProblemType) ProblemInfo {
	for _, p := range ProblemTypes() {
		if p.Type == t {
			return p
		}
	}
	return ProblemInfo{Type: t, Status: 500, Title: "Error"}
}

// Violation is one reason a document is invalid, in a 422 problem.
type Violation struct {
	// Path is a JSON Pointer (RFC 6901) to the offending value.
	Path string `json:"path"`
	// Code is a stable machine-readable reason.
	Code string `json:"code"`
	// Message is a human-readable explanation.
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem details object. It is also an error, so
// handlers can return one.
type Problem struct {
	Type     ProblemType `json:"type"`
	Title    string      `json:"title"`
	Status   int         `json:"status"`
	Detail   string      `json:"detail,omitempty"`
	Instance string      `json:"instance,omitempty"`
	// Path locates the fault inside a definition or request body, when
	// known (for example "properties.address.zip").
	Path string `json:"path,omitempty"`
	// Violations lists every violation of a document (validation-failed),
	// or the first ones when Truncated.
	Violations []Violation `json:"violations,omitempty"`
	// Truncated reports that validation stopped at a limit (100
	// violations, or their size) and there may be more.
	Truncated bool `json:"truncated,omitempty"`
	// Quota names the exceeded quota (quota-exceeded).
	Quota string `json:"quota,omitempty"`

	retryAfter int         // seconds, for 503
	header     http.Header // more response headers
	cause      error
}

// Error returns the type and the detail.
func (p *Problem) Error() string {
	if p.Detail != "" {
		return string(p.Type) + ": " + p.Detail
	}
	return string(p.Type)
}

// Unwrap returns the underlying error, if any.
func (p *Problem) Unwrap() error { return p.cause }

// problem builds a Problem of type t, with the type's status, and a detail.
func problem(t ProblemType, format string, args ...any) *Problem {
	detail := format
	if len(args) > 0 {
		detail = fmt.Sprintf(format, args...)
	}
	info := problemInfo(t)
	return &Problem{Type: t, Title: info.Title, Status: info.Status, Detail: detail}
}

// writeProblem writes p as application/problem+json.
func writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	if p.Instance == "" && r != nil {
		p.Instance = r.URL.EscapedPath()
	}
	if p.Title == "" {
		p.Title = problemInfo(p.Type).Title
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("ETag")
	for k, v := range p.header {
		h[k] = v
	}
	switch p.Status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="modelreg"`)
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		h.Set("Retry-After", strconv.Itoa(max(1, p.retryAfter)))
	}
	b, err := json.Marshal(p)
	if err != nil {
		b = []byte(`{"type":"` + string(ProblemInternal) + `","status":500}`)
		p.Status = http.StatusInternalServerError
	}
	w.WriteHeader(p.Status)
	w.Write(append(b, '\n'))
}

// asProblem turns any error into a Problem: a *Problem is returned as is,
// anything else becomes a 500 whose detail does not leak the error text.
func asProblem(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	p = problem(ProblemInternal, "internal error")
	p.cause = err
	return p
}
