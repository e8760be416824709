// Package web composes shipgate's HTTP surface, identical locally and behind API Gateway:
// the GitHub webhook, the approval pages, the console and the JSON API. It also adapts
// API Gateway HTTP API (payload v2) events to net/http, so the Api Lambda serves the
// very handler local mode serves.
package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"
)

// Routes are the parts the router mounts. A nil part answers 404.
type Routes struct {
	Webhook http.Handler // POST /webhooks/github
	Console http.Handler // /approvals/{id}, /, /runs/..., /api/approvals, /api/runs ...
	Audit   http.Handler // /audit, /api/audit
	Logger  *slog.Logger
}

// New returns the router with security headers, panic recovery and an access log that
// never records query strings (approval links carry their token there).
func New(r Routes) http.Handler {
	mux := http.NewServeMux()
	mount := func(pattern string, h http.Handler) {
		if h != nil {
			mux.Handle(pattern, h)
		}
	}
	mount("/webhooks/github", r.Webhook)
	mount("/audit", r.Audit)
	mount("/api/audit", r.Audit)
	mount("/", r.Console)
	if r.Console == nil {
		mux.Handle("/", http.NotFoundHandler())
	}
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &router{mux: mux, log: log}
}

type router struct {
	mux *http.ServeMux
	log *slog.Logger
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h := w.Header()
	// Approval URLs carry a signed token: never leak it through Referer to another site.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'")
	h.Set("Cache-Control", "no-store")
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		if p := recover(); p != nil {
			rt.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !sw.wrote {
				http.Error(sw, "internal error", http.StatusInternalServerError)
			}
		}
		rt.log.Info("http", "method", r.Method, "path", r.URL.Path, "status", sw.status, "ms", time.Since(start).Milliseconds())
	}()
	rt.mux.ServeHTTP(sw, r)
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

type identityKey struct{}

// WithIdentity returns ctx carrying the signed-in user's email (set by the API Gateway
// adapter from the JWT authorizer's claims, or by local mode for its configured user).
func WithIdentity(ctx context.Context, email string) context.Context {
	return context.WithValue(ctx, identityKey{}, email)
}

// Identity is the signed-in user's email, if the request has one.
func Identity(r *http.Request) (string, bool) {
	e, ok := r.Context().Value(identityKey{}).(string)
	return e, ok && e != ""
}

// AsUser serves h with every request signed in as email (local mode's configured user).
func AsUser(email string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), email)))
	})
}
