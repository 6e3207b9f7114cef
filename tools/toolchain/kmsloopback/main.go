// Command kmsloopback serves local-kms on 127.0.0.1 only. local-kms's own
// command listens on every interface; this one uses its request handler and
// store unchanged but binds the loopback address, so the KMS stand-in is not
// reachable from outside the machine. Seed files are not supported (the
// project creates its key through the API, like in AWS).
package main

import (
	"log"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/nsmithuk/local-kms/src"
	"github.com/nsmithuk/local-kms/src/config"
	"github.com/nsmithuk/local-kms/src/data"
)

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func main() {
	config.AWSAccountId = env("KMS_ACCOUNT_ID", "111122223333")
	config.AWSRegion = env("KMS_REGION", "us-east-1")
	path, err := filepath.Abs(env("KMS_DATA_PATH", "local-kms-data"))
	if err != nil {
		log.Fatalf("kms data path: %v", err)
	}
	config.DatabasePath = path
	db := data.NewDatabase(path)
	defer db.Close()

	addr := "127.0.0.1:" + env("PORT", "8091")
	srv := &http.Server{
		Addr:              addr,
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			src.HandleRequest(w, r, db)
		}),
	}
	log.Printf("local-kms listening on %s, data in %s", addr, path)
	if err := srv.ListenAndServe(); err != nil {
		log.Printf("kmsloopback: %v", err)
		db.Close()
		os.Exit(1)
	}
}
