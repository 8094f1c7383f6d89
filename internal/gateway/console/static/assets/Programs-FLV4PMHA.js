import{a,b}from"./chunk-YB4AXNM4.js";import"./chunk-SPGAD7TB.js";import"./chunk-GSNAGYCH.js";export{b as StatusBadge,a as default};
