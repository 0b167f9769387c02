package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// fetch is the image's own HTTP client (`sample-service fetch URL`): the image is FROM scratch,
// so a pod that must reach another pod over the network has no curl to do it with.
func fetch(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: sample-service fetch URL")
		return 2
	}
	client := &http.Client{Timeout: 10 * time.Second}
	var lastErr error
	// The pod network of a just-started pod may need a moment; retry briefly.
	for attempt := 0; attempt < 10; attempt++ {
		resp, err := client.Get(args[0])
		if err == nil {
			body, readErr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if readErr == nil && resp.StatusCode == http.StatusOK {
				fmt.Println(string(body))
				return 0
			}
			lastErr = fmt.Errorf("status %d, read error %v", resp.StatusCode, readErr)
		} else {
			lastErr = err
		}
		time.Sleep(time.Second)
	}
	fmt.Fprintln(os.Stderr, "fetch:", lastErr)
	return 1
}
