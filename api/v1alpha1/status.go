/*
Copyright 2026 The crmauthz Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1alpha1

// CommonStatus returns the status fields every kind shares (for the status
// writers).
func (p *PermissionTemplate) CommonStatus() *Status { return &p.Status.Status }

// CommonStatus returns the status fields every kind shares.
func (g *SalesGroup) CommonStatus() *Status { return &g.Status.Status }

// CommonStatus returns the status fields every kind shares.
func (l *LoginPolicy) CommonStatus() *Status { return &l.Status.Status }

// CommonStatus returns the status fields every kind shares.
func (a *IPAllowlist) CommonStatus() *Status { return &a.Status.Status }
